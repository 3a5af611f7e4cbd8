/**
 * The console at 10,000 sessions: a `file://` store filled by the gateway's own recorder (StoreRecorder:
 * each session a few API calls and one short exec with stdin and output, started over the last 30
 * days), then the real `kubegate console` process against a sandbox API server (SubjectAccessReviews)
 * and that store. Prints: start-up until the first page answers (the index fill), `/api/sessions` first
 * page p50/p99, a filtered page, `/api/search` for a command only one session ran (its first answer, then
 * p50/p99), `/api/sessions/ID`, the first answer of a search for text only in one session's output (no
 * index names it: sessions are read for the answer's time budget), and the console's resident memory.
 *
 *   npm run build && node_modules/.bin/node dist/bench/console.js [sessions=10000] [store-dir]
 * A store-dir that already holds the sessions is reused (filling takes a few minutes).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { openStore } from '../src/recording/open-store.js';
import { StoreRecorder } from '../src/recording/store-recorder.js';
import type { RecordEvent, SessionMetadata } from '../src/recording/format.js';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { packageRoot } from '../src/util/package-root.js';
import { TestCluster } from '../test/harness/cluster.js';
import { rssMiB } from './process-memory.js';

const sessionCount = Number(process.argv[2] ?? 10_000);
const storeDir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'kubegate-bench-console-store-'));
const needle = 'rotate-keys --only-once';
const b64 = (text: string) => Buffer.from(text).toString('base64');

function events(i: number): RecordEvent[] {
  const attributes = (verb: string, resource: string, name: string, subresource = '') => ({ isResourceRequest: true, verb, namespace: `team-${i % 20}`, resource, subresource, name, apiGroup: '', apiVersion: 'v1' });
  const out: RecordEvent[] = [];
  for (const [n, verb] of ['get', 'list', i % 10 === 0 ? 'delete' : 'get'].entries()) {
    const requestId = `r${n}`;
    out.push({ type: 'request', requestId, method: verb === 'delete' ? 'DELETE' : 'GET', path: `/api/v1/namespaces/team-${i % 20}/pods/api-${n}`, attributes: attributes(verb, 'pods', `api-${n}`) });
    out.push({ type: 'decision', requestId, action: verb === 'delete' && i % 20 === 0 ? 'Deny' : 'Allow', message: 'default action' });
    out.push({ type: 'response', requestId, status: 200, body: JSON.stringify({ kind: 'Pod', metadata: { name: `api-${n}` } }), bodyBytes: 40, durationMs: 3 });
  }
  const command = i === Math.floor(sessionCount / 2) ? ['sh', '-c', needle] : ['sh', '-c', `echo session ${i}`];
  out.push({ type: 'request', requestId: 'exec', method: 'GET', path: '/exec', attributes: attributes('create', 'pods', 'shell', 'exec') });
  out.push({ type: 'decision', requestId: 'exec', action: 'Allow', message: 'default action' });
  out.push({ type: 'stream-open', requestId: 'exec', protocol: 'v5.channel.k8s.io', command });
  out.push({ type: 'stream', requestId: 'exec', direction: 'client-to-server', channel: 'stdin', data: b64(`hello ${i}\n`) });
  out.push({ type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stdout', data: b64(`session ${i} output\n`) });
  out.push({ type: 'stream-close', requestId: 'exec', reason: 'exit 0' });
  return out;
}

async function fill(): Promise<number> {
  const store = openStore(`file://${storeDir}`);
  const spool = mkdtempSync(join(tmpdir(), 'kubegate-bench-console-spool-'));
  const recorder = new StoreRecorder({ store, spoolDir: spool, writerId: 'bench-gateway-0' });
  await recorder.start();
  const started = Date.now();
  const record = async (i: number) => {
    const metadata: SessionMetadata = {
      sessionId: randomUUID(),
      tokenId: 'bench',
      subject: { kind: 'User', name: `bot-${i % 50}` },
      grant: { namespace: 'kubegate-system', name: `grant-${i % 50}`, uid: 'u' },
      policy: { namespace: 'kubegate-system', name: 'prod', version: '1' },
      client: { userAgent: 'kubectl/v1.31.0', command: 'kubectl exec' },
      startedAt: new Date(started - ((i * 30 * 24 * 3_600_000) / sessionCount)).toISOString(),
    };
    const session = recorder.open(metadata);
    for (const event of events(i)) await session.record(event);
    await session.close('done');
  };
  for (let i = 0; i < sessionCount; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, sessionCount - i) }, (_, j) => record(i + j)));
    if (i % 2000 === 0) process.stderr.write(`  recorded ${i} sessions\n`);
  }
  await recorder.flush();
  await recorder.stop();
  rmSync(spool, { recursive: true, force: true });
  store.close();
  return Date.now() - started;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timed(url: string, cookie: string): Promise<{ ms: number; body: any }> {
  const start = performance.now();
  const response = await fetch(url, { headers: { cookie } });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - start, body };
}

async function repeat(url: string, cookie: string, times: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push((await timed(url, cookie)).ms);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

interface ConsoleProcess {
  child: ChildProcess;
  base: string;
  cookie: string;
  /** From spawning the process to its first page of sessions (which waits for the index fill). */
  startupMs: number;
  first: { ms: number; body: any };
}

async function startConsoleProcess(cluster: TestCluster, store: string): Promise<ConsoleProcess> {
  const started = performance.now();
  const child = spawn(join(packageRoot(), 'bin', 'kubegate'), ['console', '--listen=127.0.0.1:0', `--kubeconfig=${cluster.state.kubeconfig}`, `--store=file://${store}`, '--login-as=bench-admin:system:masters'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const link = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /login as bench-admin: (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the console exited ${code}`)));
  });
  const base = new URL(link).origin;
  const login = await fetch(link, { redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const first = await timed(`${base}/api/sessions`, cookie);
  return { child, base, cookie, startupMs: performance.now() - started, first };
}

async function main(): Promise<void> {
  const filled = existsSync(join(storeDir, 'index'));
  if (!filled) {
    process.stderr.write(`recording ${sessionCount} sessions into file://${storeDir}\n`);
    process.stderr.write(`  done in ${((await fill()) / 1000).toFixed(1)} s\n`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  const emptyStore = mkdtempSync(join(tmpdir(), 'kubegate-bench-console-empty-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const empty = await startConsoleProcess(cluster, emptyStore);
    const emptyRss = rssMiB(empty.child.pid!);
    empty.child.kill('SIGTERM');
    const { child, base, cookie, startupMs, first } = await startConsoleProcess(cluster, storeDir);
    const filledRss = rssMiB(child.pid!);
    const page = await repeat(`${base}/api/sessions`, cookie, 200);
    const filtered = await repeat(`${base}/api/sessions?subject=bot-7&verb=delete&limit=50`, cookie, 200);
    const searchUrl = `${base}/api/search?q=${encodeURIComponent(needle)}`;
    const search = await timed(searchUrl, cookie);
    const id = search.body.items[0]?.session as string;
    if (!id) throw new Error('the search found nothing');
    const searchAgain = await repeat(searchUrl, cookie, 50);
    const show = await repeat(`${base}/api/sessions/${id}`, cookie, 50);
    // text only in one session's output: no index names it, so the answer reads sessions for its time budget
    const deep = await timed(`${base}/api/search?q=${encodeURIComponent(`session ${Math.floor(sessionCount / 3)} output`)}`, cookie);
    const results = {
      sessions: first.body.total,
      startupToFirstPageMs: { empty: Math.round(empty.startupMs), filled: Math.round(startupMs) },
      firstPage: page,
      filteredPage: filtered,
      searchForOneCommand: { firstMs: Math.round(search.ms), ...searchAgain },
      searchHits: search.body.items.length,
      showSession: show,
      searchOutputFirstAnswer: { ms: Math.round(deep.ms), sessionsRead: deep.body.scanned, hits: deep.body.items.length, more: deep.body.next !== undefined },
      consoleRssMiB: { empty: Math.round(emptyRss), indexFilled: Math.round(filledRss), afterTheSearches: Math.round(rssMiB(child.pid!)) },
    };
    console.log(JSON.stringify(results, (_, value) => (typeof value === 'number' ? Math.round(value * 10) / 10 : value), 2));
    child.kill('SIGTERM');
  } finally {
    await stopSandbox(dir);
    rmSync(dir, { recursive: true, force: true });
    rmSync(emptyStore, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
