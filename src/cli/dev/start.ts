/**
 * `kubegate dev`'s start, part by part: the sandbox; kubegate's config; the operator and the samples
 * (together); the policy's gateway and the approval of the bot's grant (together); the bot's kubeconfig;
 * the console. The gateway's and the console's ports are chosen together, so that the bot's kubeconfig and
 * the console can name them, right before those parts start: a port free at `kubegate dev`'s start can be
 * taken by the time its part binds it, a minute later on a loaded machine.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { gatewayName, type SessionPolicyGatewayStorage } from '../../api/index.js';
import { freePort } from '../../sandbox/network.js';
import type { SandboxState } from '../../sandbox/sandbox.js';
import {
  applyDevSamples,
  approveGrant,
  completeDevPolicy,
  devCluster,
  devGrant,
  devPolicy,
  installKubegate,
  jitKubeconfig,
  operatorNamespace,
  personKubeconfig,
  sampleApprover,
  sampleRequester,
  serviceAccountKubeconfig,
  waitPolicyReady,
  type DevCluster,
} from './cluster.js';
import { PartFailed, type DevSession } from './session.js';

export interface DevOptions {
  store: 'file' | 'minio';
  workers?: number;
}

/** Where recordings (and the access ledger) go, the environment that reaches it, and the policy's storage naming it. */
export interface DevStore {
  url: string;
  env: NodeJS.ProcessEnv;
  storage: SessionPolicyGatewayStorage;
}

export interface DevReady {
  sandbox: SandboxState;
  store: DevStore;
  gatewayUrl: string;
  botKubeconfig: string;
  approverKubeconfig: string;
  /** The console's one-time login link. */
  consoleLogin: string;
}

interface Ports {
  gateway: number;
  gatewayAdmin: number;
  gatewayEvents: number;
  console: number;
}

function devStore(choice: DevOptions['store'], dir: string, sandbox: SandboxState): DevStore {
  if (choice === 'file') {
    const url = `file://${join(dir, 'store')}`;
    return { url, env: {}, storage: { url } };
  }
  const { s3 } = sandbox;
  // the sandbox's own store URL, so `eval "$(kubegate sandbox env …)"; kubegate sessions list` finds the recordings
  const env = { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  return { url: sandbox.store, env, storage: { url: sandbox.store, endpoint: s3.endpoint, region: s3.region } };
}

/** Runs `step`; a failure that names no part is reported as this part's. */
async function part<T>(name: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw error instanceof PartFailed ? error : new PartFailed(name, (error as Error).message);
  }
}

async function startOperator(session: DevSession, cluster: DevCluster, port: number, store: DevStore): Promise<void> {
  session.progress('operator', "starting as a local process, as are the gateway and the console: the sandbox's kwok node runs no images (the gateway's Deployment is kept at 0 replicas)");
  const kubeconfig = await serviceAccountKubeconfig(cluster, { namespace: operatorNamespace, name: 'kubegate-operator' }, 'operator.kubeconfig');
  const operator = session.startKubegate('operator', ['operator', `--kubeconfig=${kubeconfig}`, `--namespace=${operatorNamespace}`, `--health-listen=127.0.0.1:${port}`, '--no-gateway-pods'], store.env);
  await session.waitReady(operator, `http://127.0.0.1:${port}/readyz`);
  session.progress('operator', `ready (log: ${operator.logFile})`);
}

async function startGateway(session: DevSession, cluster: DevCluster, ports: Ports, store: DevStore, workers: number | undefined): Promise<void> {
  const policy = `${devPolicy.namespace}/${devPolicy.name}`;
  const kubeconfig = await serviceAccountKubeconfig(cluster, { namespace: devPolicy.namespace, name: gatewayName(devPolicy.name) }, 'gateway.kubeconfig');
  session.progress('gateway', `starting for policy ${policy}, recording to ${store.url}`);
  const args = [
    'gateway',
    `--policy=${policy}`,
    `--kubeconfig=${kubeconfig}`,
    `--listen=127.0.0.1:${ports.gateway}`,
    `--admin-listen=127.0.0.1:${ports.gatewayAdmin}`,
    `--events-listen=127.0.0.1:${ports.gatewayEvents}`,
    `--store=${store.url}`,
    `--spool-dir=${join(session.dir, 'spool')}`,
    ...(workers ? [`--workers=${workers}`] : []),
  ];
  const gateway = session.startKubegate('gateway', args, store.env);
  await session.waitReady(gateway, `http://127.0.0.1:${ports.gatewayAdmin}/readyz`);
  session.progress('gateway', `ready on https://127.0.0.1:${ports.gateway} (log: ${gateway.logFile})`);
}

async function startConsole(session: DevSession, cluster: DevCluster, ports: Ports, store: DevStore, gatewayCa: string): Promise<string> {
  const urlFile = join(session.dir, 'console-url');
  rmSync(urlFile, { force: true });
  const kubeconfig = await serviceAccountKubeconfig(cluster, { namespace: operatorNamespace, name: 'kubegate-console' }, 'console.kubeconfig');
  session.progress('console', `starting, with a one-time login link for ${sampleApprover.user} and sign-in at the sandbox's identity provider`);
  const args = [
    'console',
    `--listen=127.0.0.1:${ports.console}`,
    `--kubeconfig=${kubeconfig}`,
    `--store=${store.url}`,
    `--gateway-events=https://127.0.0.1:${ports.gatewayEvents}`,
    `--gateway-ca=${gatewayCa}`,
    `--login-as=${sampleApprover.user}:${sampleApprover.groups.join(',')}`,
    `--oidc-from-policy=${devPolicy.namespace}/${devPolicy.name}`,
    `--url-file=${urlFile}`,
  ];
  const server = session.startKubegate('console', args, store.env);
  const written = async () => (existsSync(urlFile) && readFileSync(urlFile, 'utf8').trim() ? true : 'no login link written yet');
  await session.waitFor(server, `its login link in ${urlFile}`, written);
  session.progress('console', `ready (log: ${server.logFile})`);
  return readFileSync(urlFile, 'utf8').trim();
}

/** The approval of the bot's grant as the sample approver, then its JIT kubeconfig (pointing at the local gateway) in DIR. */
async function botKubeconfig(session: DevSession, cluster: DevCluster, approverKubeconfig: string, gatewayUrl: string): Promise<{ kubeconfig: string; gatewayCa: string }> {
  session.progress('grant', `${sampleApprover.user} approves AccessGrant ${devGrant.namespace}/${devGrant.name} (asked by ${sampleRequester.user})`);
  await approveGrant(cluster, devGrant, approverKubeconfig);
  const document = await jitKubeconfig(cluster, devGrant, gatewayUrl);
  const kubeconfig = join(session.dir, 'bot.kubeconfig');
  writeFileSync(kubeconfig, stringify(document), { mode: 0o600 });
  const gatewayCa = join(session.dir, 'gateway-ca.crt');
  writeFileSync(gatewayCa, Buffer.from(document.clusters[0]!.cluster['certificate-authority-data'] ?? '', 'base64'));
  session.progress('grant', `Active; the bot's JIT kubeconfig is ${kubeconfig}`);
  return { kubeconfig, gatewayCa };
}

export async function startDev(session: DevSession, options: DevOptions): Promise<DevReady> {
  const sandbox = await session.startSandbox();
  session.progress('sandbox', `ready: ${sandbox.apiserver.url}`);
  const cluster = devCluster(sandbox, session.dir);
  await personKubeconfig(cluster, sampleRequester, 'alice.kubeconfig');
  const approverKubeconfig = await personKubeconfig(cluster, sampleApprover, 'bob.kubeconfig');
  session.progress('config', 'installing CRDs, RBAC and admission policies (config/crd, config/rbac, config/admission)');
  await part('config', () => installKubegate(cluster.admin));
  const store = devStore(options.store, session.dir, sandbox);
  await Promise.all([
    part('operator', async () => startOperator(session, cluster, await freePort(), store)),
    part('samples', async () => {
      session.progress('samples', "applying samples/dev (namespaces, people, shop, the dev policy, the console's account; the grant as alice)");
      await applyDevSamples(cluster.admin);
      await completeDevPolicy(cluster, devPolicy, store.storage);
    }),
  ]);
  await part('samples', () => waitPolicyReady(cluster, devPolicy));
  session.progress('samples', `SessionPolicy ${devPolicy.namespace}/${devPolicy.name} Ready`);
  const ports: Ports = { gateway: await freePort(), gatewayAdmin: await freePort(), gatewayEvents: await freePort(), console: await freePort() };
  const gatewayUrl = `https://127.0.0.1:${ports.gateway}`;
  // the console needs the gateway's CA (from the bot's kubeconfig), not the gateway: it subscribes to its events per page
  const grantThenConsole = async () => {
    const bot = await part('grant', () => botKubeconfig(session, cluster, approverKubeconfig, gatewayUrl));
    const consoleLogin = await part('console', () => startConsole(session, cluster, ports, store, bot.gatewayCa));
    return { bot, consoleLogin };
  };
  const [, { bot, consoleLogin }] = await Promise.all([part('gateway', () => startGateway(session, cluster, ports, store, options.workers)), grantThenConsole()]);
  return { sandbox, store, gatewayUrl, botKubeconfig: bot.kubeconfig, approverKubeconfig, consoleLogin };
}
