/**
 * The Go peer proxy the gateway is compared with. The issue asks for kube-rbac-proxy from the Go module
 * proxy; where the module proxy does not serve it, bench/go-peer (standard library only, the same
 * per-request work as kubegate minus policy and recording) stands in, and the bench says so.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../../src/sandbox/binaries.js';
import { packageRoot } from '../../src/util/package-root.js';
import { startPeer, type RunningPeer } from './peer-process.js';

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

/** kubectl through the peer: its certificate is a throwaway, not verified */
export type RunningGoPeer = RunningPeer;

export async function startGoPeer(binary: string, options: GoPeerOptions): Promise<RunningGoPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-go-peer-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, options.upstreamToken, { mode: 0o600 });
  const args = [`--upstream=${options.upstream}`, `--upstream-ca=${options.upstreamCaFile}`, `--token-file=${tokenFile}`, `--impersonate-user=${options.impersonateUser}`];
  for (const group of options.impersonateGroups) args.push(`--impersonate-group=${group}`);
  return startPeer({
    name: 'go-peer',
    command: binary,
    args,
    dir,
    announcement: /serving on (https:\/\/\S+)/,
    url: (match) => match[1]!,
    cluster: { 'insecure-skip-tls-verify': true },
    user: { token: 'stripped-by-the-peer' },
  });
}
