/**
 * Runs the real `kubegate gateway` process for one policy against the test sandbox, as that policy's
 * ServiceAccount with only the RBAC the operator gave it (never as admin), and hands out JIT
 * kubeconfigs pointing at it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { scratchDir } from './scratch.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/package-root.js';
import { freePort } from '../../src/sandbox/network.js';
import { spawnKubegate } from './kubegate-process.js';
import type { TestCluster } from './cluster.js';
import type { Kubectl } from './kubectl.js';
import { eventually } from './workloads.js';

const root = packageRoot();
const run = promisify(execFile);

export interface RunningGateway {
  process: ChildProcess;
  url: string;
  adminUrl: string;
  /** The primary's live events endpoint (`--events-listen`), served with the gateway's TLS. */
  eventsUrl: string;
  /** The folder of the default `file://` store (unused when `store` was given). */
  recordings: string;
  /** The recording store URL and the spool folder the gateway runs with. */
  store: string;
  spoolDir: string;
  logs(): string;
  stop(): Promise<void>;
  /** SIGKILL: no drain, no recording closed (crash tests). */
  kill(): Promise<void>;
}

export interface GatewayRunOptions {
  /** Recording store URL (default: `file://` a fresh temp folder, which `recordings` names). */
  store?: string;
  /** Spool folder (default: a fresh temp folder); pass a killed gateway's to restart over its spool. */
  spoolDir?: string;
  /** Extra environment (e.g. the sandbox's AWS_* settings for an `s3://` store). */
  env?: NodeJS.ProcessEnv;
  /** Fixed ports (default: free ones), e.g. to restart a gateway where its kubeconfigs point. */
  port?: number;
  adminPort?: number;
  args?: string[];
  /** The gateway's upstream kubeconfig (default: its ServiceAccount's token from `kubectl create token`). */
  kubeconfig?: string;
}

/** The sandbox's S3 settings as the AWS environment a gateway reads. */
export function sandboxS3Env(cluster: TestCluster): NodeJS.ProcessEnv {
  const { s3 } = cluster.state;
  return { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
}

/**
 * Waits until the operator has applied every child of the policy's gateway (its ServiceAccount comes
 * first, its Role to read the TLS Secret later: a gateway started in between exits on a 403) and says
 * so in the policy's status, at the policy's generation. A fresh operator reconciles every object the
 * shared sandbox holds first, hence the generous wait.
 */
export async function policyReady(kubectl: Kubectl, policy: { namespace: string; name: string }, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    const object = JSON.parse(await kubectl.ok(['get', 'sessionpolicy', policy.name, '-n', policy.namespace, '-o', 'json'])) as { metadata: { generation: number }; status?: { phase?: string; observedGeneration?: number } };
    if (object.status?.phase !== 'Ready' || object.status.observedGeneration !== object.metadata.generation) {
      throw new Error(`policy ${policy.namespace}/${policy.name} not Ready at generation ${object.metadata.generation}: ${JSON.stringify(object.status ?? {})}`);
    }
  }, timeoutMs, 500);
}

export async function startGateway(cluster: TestCluster, policy: { namespace: string; name: string }, options: GatewayRunOptions = {}): Promise<RunningGateway> {
  const kubectl = await cluster.kubectl();
  const account = `kubegate-gateway-${policy.name}`;
  await policyReady(kubectl, policy);
  const kubeconfig = options.kubeconfig ?? cluster.kubeconfigFile((await kubectl.ok(['create', 'token', account, '-n', policy.namespace, '--duration=2h'])).trim());
  const recordings = scratchDir('kubegate-recordings-');
  const store = options.store ?? `file://${recordings}`;
  const spoolDir = options.spoolDir ?? scratchDir('kubegate-spool-');
  const start = async () => {
    const port = options.port ?? (await freePort());
    const adminPort = options.adminPort ?? (await freePort());
    const eventsPort = await freePort();
    const child = spawnKubegate(
      'gateway',
      [
        'gateway',
        `--policy=${policy.namespace}/${policy.name}`,
        `--listen=127.0.0.1:${port}`,
        `--admin-listen=127.0.0.1:${adminPort}`,
        `--events-listen=127.0.0.1:${eventsPort}`,
        `--kubeconfig=${kubeconfig}`,
        `--store=${store}`,
        `--spool-dir=${spoolDir}`,
        '--segment-max-age-ms=2000', // recordings reach the store within seconds (tests read them back)
        // one worker unless a test asks for more (a later --workers wins): the default follows the machine's
        // CPUs, and tests that read the spool or count writers expect one
        '--workers=1',
        ...(options.args ?? []),
      ],
      options.env,
    );
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    await child.waitReady(`${adminUrl}/readyz`);
    return { child, port, adminUrl, eventsUrl: `https://127.0.0.1:${eventsPort}` };
  };
  // a free port can be taken (by any process's outgoing connection) before the gateway binds it: pick others
  let started: Awaited<ReturnType<typeof start>> | undefined;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await start();
    } catch (error) {
      const portTaken = /EADDRINUSE/.test((error as Error).message);
      if (!portTaken || options.port !== undefined || options.adminPort !== undefined || attempt >= 3) throw error;
    }
  }
  const { child, port, adminUrl, eventsUrl } = started;
  return {
    process: child.process,
    url: `https://127.0.0.1:${port}`,
    adminUrl,
    eventsUrl,
    recordings,
    store,
    spoolDir,
    logs: child.logs,
    stop: async () => {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM');
      await child.exited;
    },
    kill: async () => {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
      await child.exited;
    },
  };
}

/** The grant's JIT kubeconfig from `kubegate kubeconfig --server <gateway>`, written to a file. */
export async function jitKubeconfig(cluster: TestCluster, grant: { namespace: string; name: string }, gateway: RunningGateway): Promise<string> {
  let text = '';
  await eventually(async () => {
    text = (await run(join(root, 'bin', 'kubegate'), ['kubeconfig', grant.name, '-n', grant.namespace, '--server', gateway.url, '--kubeconfig', cluster.state.kubeconfig])).stdout;
  }, 20_000);
  const file = join(scratchDir('kubegate-jit-'), 'kubeconfig');
  appendFileSync(file, text, { mode: 0o600 });
  return file;
}
