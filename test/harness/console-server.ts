/**
 * Runs the real `kubegate console` process against the test sandbox, as its own ServiceAccount with
 * the `kubegate-console` ClusterRole config/rbac defines (it impersonates exactly the viewer), reading
 * a gateway's store and following its live events, and hands back the one-time login links it prints.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/sandbox/network.js';
import { tlsSecretName } from '../../src/api/names.js';
import type { TestCluster } from './cluster.js';
import { spawnKubegate, type KubegateProcess } from './kubegate-process.js';
import { allowLiveEventsTokens, operatorNamespace, serviceAccountToken } from './operator.js';
import { eventually } from './workloads.js';

export interface RunningConsole {
  url: string;
  /** `login as USER: URL` lines printed at start, by user. */
  loginLinks: Map<string, string>;
  logs(): string;
  stop(): Promise<void>;
}

export interface ConsoleOptions {
  store: string;
  /** The gateway's policy (its CA verifies the events endpoint) and its events base URL. */
  gateway?: { policy: { namespace: string; name: string }; eventsUrl: string };
  /** `USER[:GROUP,GROUP…]` to print a one-time login link for. */
  loginAs: string[];
  /** Other flags, as given (`--oidc-from-policy=NS/NAME`). */
  args?: string[];
}

/** The policy CA a gateway's serving certificate is issued from (what JIT kubeconfigs pin). */
async function policyCaFile(cluster: TestCluster, policy: { namespace: string; name: string }): Promise<string> {
  const admin = await cluster.kubectl();
  let ca = '';
  await eventually(async () => {
    ca = Buffer.from((await admin.ok(['get', 'secret', tlsSecretName(policy.name), '-n', policy.namespace, '-o', 'jsonpath={.data.ca\\.crt}'])).trim(), 'base64').toString();
    if (!ca.includes('BEGIN CERTIFICATE')) throw new Error(`no CA in secret ${tlsSecretName(policy.name)}`);
  }, 20_000);
  const file = join(mkdtempSync(join(tmpdir(), 'kubegate-console-ca-')), 'ca.crt');
  writeFileSync(file, ca);
  return file;
}

/** The console's ServiceAccount, bound to the kubegate-console ClusterRole, with its live events token Role. */
async function consoleKubeconfig(cluster: TestCluster): Promise<string> {
  const token = await serviceAccountToken(cluster, operatorNamespace, 'kubegate-console');
  const admin = await cluster.kubectl();
  const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'kubegate-console-test' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubegate-console' }, subjects: [{ kind: 'ServiceAccount', name: 'kubegate-console', namespace: operatorNamespace }] };
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(binding) });
  await allowLiveEventsTokens(cluster, operatorNamespace, 'kubegate-console');
  return cluster.kubeconfigFile(token);
}

function loginLinks(output: string): Map<string, string> {
  return new Map([...output.matchAll(/^login as ([^:\s]+): (http\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

export async function startConsole(cluster: TestCluster, options: ConsoleOptions): Promise<RunningConsole> {
  const port = await freePort();
  const urlFile = join(mkdtempSync(join(tmpdir(), 'kubegate-console-')), 'console-url');
  const child: KubegateProcess = spawnKubegate('console', [
    'console',
    `--listen=127.0.0.1:${port}`,
    `--kubeconfig=${await consoleKubeconfig(cluster)}`,
    `--store=${options.store}`,
    ...(options.gateway ? [`--gateway-events=${options.gateway.eventsUrl}`, `--gateway-ca=${await policyCaFile(cluster, options.gateway.policy)}`] : []),
    `--url-file=${urlFile}`,
    ...options.loginAs.map((login) => `--login-as=${login}`),
    ...(options.args ?? []),
  ]);
  let links = new Map<string, string>();
  await eventually(async () => {
    if (child.process.exitCode !== null) throw new Error(`console exited ${child.process.exitCode}:\n${child.logs().slice(-3000)}`);
    readFileSync(urlFile, 'utf8'); // written once the server listens
    links = loginLinks(child.logs());
    if (links.size < options.loginAs.length) throw new Error(`login links not printed yet:\n${child.logs().slice(-2000)}`);
  }, 30_000);
  return {
    url: `http://127.0.0.1:${port}`,
    loginLinks: links,
    logs: child.logs,
    stop: async () => {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM');
      await child.exited;
    },
  };
}
