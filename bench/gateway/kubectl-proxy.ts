/**
 * `kubectl proxy`: Kubernetes' own Go reverse proxy (the test binaries' kubectl) as a second peer, on
 * loopback, as the direct user (same rights, same authentication at the API server, no impersonation).
 * It speaks plain HTTP toward its client, so it pays no TLS on that side: a lower bound for any proxy.
 * `--disable-filter` lets exec and port-forward through (its default filter refuses them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface RunningKubectlProxy {
  process: ChildProcess;
  url: string;
  /** a kubeconfig for kubectl through the proxy (plain HTTP, no credentials: the proxy adds its own) */
  kubeconfig: string;
  stop(): Promise<void>;
}

export async function startKubectlProxy(kubectl: string, kubeconfig: string): Promise<RunningKubectlProxy> {
  const child = spawn(kubectl, ['proxy', '--port=0', '--address=127.0.0.1', '--disable-filter=true', `--kubeconfig=${kubeconfig}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL'));
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-10_000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Starting to serve on (\S+:\d+)/.exec(out);
      if (match) resolve(`http://${match[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`kubectl proxy exited ${code}: ${errors}`)));
  });
  const file = join(mkdtempSync(join(tmpdir(), 'kubegate-kubectl-proxy-')), 'kubeconfig');
  writeFileSync(
    file,
    stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'proxy', cluster: { server: url } }], users: [{ name: 'proxy', user: {} }], contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxy' } }], 'current-context': 'proxy' }),
    { mode: 0o600 },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    url,
    kubeconfig: file,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
