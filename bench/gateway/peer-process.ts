/**
 * A peer proxy the bench runs beside the gateway (the Go peer, `kubectl proxy`): its process, started
 * until it announces where it serves, and a kubeconfig for kubectl through it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface RunningPeer {
  process: ChildProcess;
  url: string;
  /** a kubeconfig for kubectl through the peer */
  kubeconfig: string;
  stop(): Promise<void>;
}

export interface PeerProcess {
  /** in messages and the kubeconfig's names */
  name: string;
  command: string;
  args: string[];
  /** where the kubeconfig goes */
  dir: string;
  /** the stdout line that says it serves; the URL from its match */
  announcement: RegExp;
  url: (match: RegExpExecArray) => string;
  /** the kubeconfig's cluster (besides `server`) and user */
  cluster: Record<string, unknown>;
  user: Record<string, unknown>;
}

export async function startPeer(peer: PeerProcess): Promise<RunningPeer> {
  const child = spawn(peer.command, peer.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL'));
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-10_000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = peer.announcement.exec(out);
      if (match) resolve(peer.url(match));
    });
    child.once('exit', (code) => reject(new Error(`${peer.name} exited ${code}: ${errors}`)));
  });
  const kubeconfig = join(peer.dir, 'kubeconfig');
  const { name } = peer;
  writeFileSync(
    kubeconfig,
    stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name, cluster: { server: url, ...peer.cluster } }], users: [{ name, user: peer.user }], contexts: [{ name, context: { cluster: name, user: name } }], 'current-context': name }),
    { mode: 0o600 },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    url,
    kubeconfig,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
