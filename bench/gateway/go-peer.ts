/**
 * The Go peer proxy the gateway is compared with. The issue asks for kube-rbac-proxy from the Go module
 * proxy; where the module proxy does not serve it, bench/go-peer (standard library only, the same
 * per-request work as kubegate minus policy and recording) stands in, and the bench says so.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { cacheDir } from '../../src/sandbox/binaries.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);
const kubeRbacProxyModule = 'github.com/brancz/kube-rbac-proxy';
const sourceDir = join(packageRoot(), 'bench', 'go-peer');

/** Whether the Go module proxy serves kube-rbac-proxy, and if not, its answer in one line. */
export async function kubeRbacProxyAvailability(): Promise<{ served: boolean; answer: string }> {
  try {
    const { stdout } = await run('go', ['list', '-m', '-versions', kubeRbacProxyModule], { cwd: tmpdir(), timeout: 60_000, env: { ...process.env, GOFLAGS: '-mod=mod' } });
    return { served: true, answer: stdout.trim() };
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    return { served: false, answer: /\d{3} [A-Za-z ]+/.exec(stderr)?.[0] ?? stderr.trim().split('\n')[0]! };
  }
}

/** Builds bench/go-peer into kubegate's binary cache, once per source and Go version. */
export async function buildGoPeer(): Promise<string> {
  const { stdout: goVersion } = await run('go', ['version']).catch(() => {
    throw new Error('this bench needs Go on PATH to build its Go peer proxy (bench/go-peer)');
  });
  const hash = createHash('sha256').update(goVersion);
  for (const file of ['go.mod', 'main.go']) hash.update(readFileSync(join(sourceDir, file)));
  const binary = join(cacheDir(), 'bin', `kubegate-bench-go-peer-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(binary)) {
    mkdirSync(join(cacheDir(), 'bin'), { recursive: true });
    await run('go', ['build', '-trimpath', '-o', binary, '.'], { cwd: sourceDir, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' } });
  }
  return binary;
}

export interface GoPeerOptions {
  upstream: string;
  upstreamCaFile: string;
  /** the bearer token the peer sends upstream: the gateway's ServiceAccount's */
  upstreamToken: string;
  impersonateUser: string;
  impersonateGroups: string[];
}

export interface RunningGoPeer {
  process: ChildProcess;
  url: string;
  /** a kubeconfig for kubectl through the peer (its certificate is a throwaway: not verified) */
  kubeconfig: string;
  stop(): Promise<void>;
}

export async function startGoPeer(binary: string, options: GoPeerOptions): Promise<RunningGoPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-go-peer-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, options.upstreamToken, { mode: 0o600 });
  const args = [`--upstream=${options.upstream}`, `--upstream-ca=${options.upstreamCaFile}`, `--token-file=${tokenFile}`, `--impersonate-user=${options.impersonateUser}`];
  for (const group of options.impersonateGroups) args.push(`--impersonate-group=${group}`);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL'));
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-10_000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on (https:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`go peer exited ${code}: ${errors}`)));
  });
  const kubeconfig = join(dir, 'kubeconfig');
  const cluster = { server: url, 'insecure-skip-tls-verify': true };
  writeFileSync(
    kubeconfig,
    stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'go-peer', cluster }], users: [{ name: 'go-peer', user: { token: 'stripped-by-the-peer' } }], contexts: [{ name: 'go-peer', context: { cluster: 'go-peer', user: 'go-peer' } }], 'current-context': 'go-peer' }),
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
