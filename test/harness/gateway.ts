/**
 * Runs the real `kubegate gateway` process for one policy against the test sandbox, as that policy's
 * ServiceAccount with only the RBAC the operator gave it (never as admin), and hands out JIT
 * kubeconfigs pointing at it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/package-root.js';
import { freePort, probe } from '../../src/sandbox/network.js';
import type { TestCluster } from './cluster.js';
import { eventually } from './workloads.js';

const root = packageRoot();
const run = promisify(execFile);

export interface RunningGateway {
  process: ChildProcess;
  url: string;
  adminUrl: string;
  recordings: string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startGateway(cluster: TestCluster, policy: { namespace: string; name: string }): Promise<RunningGateway> {
  const kubectl = await cluster.kubectl();
  const account = `kubegate-gateway-${policy.name}`;
  await eventually(() => kubectl.ok(['get', 'serviceaccount', account, '-n', policy.namespace]).then(() => undefined), 20_000);
  const token = (await kubectl.ok(['create', 'token', account, '-n', policy.namespace, '--duration=2h'])).trim();
  const [port, adminPort] = [await freePort(), await freePort()];
  const recordings = mkdtempSync(join(tmpdir(), 'kubegate-recordings-'));
  const child = spawn(
    join(root, 'bin', 'kubegate'),
    [
      'gateway',
      `--policy=${policy.namespace}/${policy.name}`,
      `--listen=127.0.0.1:${port}`,
      `--admin-listen=127.0.0.1:${adminPort}`,
      `--kubeconfig=${cluster.kubeconfigFile(token)}`,
      `--store=file://${recordings}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBEGATE_LOG_LEVEL: 'debug' } },
  );
  let output = '';
  const logFile = process.env.KUBEGATE_TEST_LOG_DIR && join(process.env.KUBEGATE_TEST_LOG_DIR, `gateway-${port}.log`);
  const capture = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
    if (logFile) appendFileSync(logFile, chunk);
  };
  child.stdout!.on('data', capture);
  child.stderr!.on('data', capture);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}:\n${output.slice(-3000)}`);
    const { status } = await probe({ url: `${adminUrl}/readyz` });
    if (status !== 200) throw new Error(`gateway not ready (HTTP ${status}):\n${output.slice(-2000)}`);
  }, 30_000);
  return {
    process: child,
    url: `https://127.0.0.1:${port}`,
    adminUrl,
    recordings,
    logs: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The grant's JIT kubeconfig from `kubegate kubeconfig --server <gateway>`, written to a file. */
export async function jitKubeconfig(cluster: TestCluster, grant: { namespace: string; name: string }, gateway: RunningGateway): Promise<string> {
  let text = '';
  await eventually(async () => {
    text = (await run(join(root, 'bin', 'kubegate'), ['kubeconfig', grant.name, '-n', grant.namespace, '--server', gateway.url, '--kubeconfig', cluster.state.kubeconfig])).stdout;
  }, 20_000);
  const file = join(mkdtempSync(join(tmpdir(), 'kubegate-jit-')), 'kubeconfig');
  appendFileSync(file, text, { mode: 0o600 });
  return file;
}
