/**
 * Runs the real `kubegate gateway` process for one policy against the test sandbox, as that policy's
 * ServiceAccount with only the RBAC the operator gave it (never as admin), and hands out JIT
 * kubeconfigs pointing at it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/package-root.js';
import { freePort } from '../../src/sandbox/network.js';
import { spawnKubegate } from './kubegate-process.js';
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
  const child = spawnKubegate('gateway', [
    'gateway',
    `--policy=${policy.namespace}/${policy.name}`,
    `--listen=127.0.0.1:${port}`,
    `--admin-listen=127.0.0.1:${adminPort}`,
    `--kubeconfig=${cluster.kubeconfigFile(token)}`,
    `--store=file://${recordings}`,
  ]);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await child.waitReady(`${adminUrl}/readyz`);
  return {
    process: child.process,
    url: `https://127.0.0.1:${port}`,
    adminUrl,
    recordings,
    logs: child.logs,
    stop: async () => {
      child.process.kill('SIGTERM');
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
  const file = join(mkdtempSync(join(tmpdir(), 'kubegate-jit-')), 'kubeconfig');
  appendFileSync(file, text, { mode: 0o600 });
  return file;
}
