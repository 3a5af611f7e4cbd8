/**
 * 100 `kubectl exec` sessions at once through the real gateway process recording to MinIO: each prints
 * numbered lines; the bench polls the bucket until every session's recorded stdout holds all of its
 * lines, in order, and its stream's close — nothing lost — and samples the gateway's resident memory
 * meanwhile. Then the gateway drains (every session ends and is uploaded) and the real
 * `kubegate sessions verify --all` checks every recording's hash chain, order and completeness.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sessionFolderOf, type RecordedEvent } from '../../src/recording/format.js';
import { sessionEvents, storedSession, StreamLines } from '../../src/audit/reader.js';
import type { RecordingStore } from '../../src/recording/store.js';
import type { VerifyReport } from '../../src/audit/verify.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { RunningGateway } from '../../test/harness/gateway.js';
import type { Kubectl } from '../../test/harness/kubectl.js';
import { peakMemoryDuring, type MemoryPeak } from '../process-memory.js';

const run = promisify(execFile);

export interface ExecSetup {
  gateway: RunningGateway;
  /** the gateway's store, opened here to read the recordings back */
  store: RecordingStore;
  /** environment for `kubegate sessions` (KUBEGATE_STORE and the AWS settings) */
  cliEnv: NodeJS.ProcessEnv;
  /** kubectl with the grant's JIT kubeconfig toward `gateway` */
  kubectl: Kubectl;
  namespace: string;
  pod: string;
  sessions: number;
  linesPerSession: number;
}

export interface ExecResult {
  sessions: number;
  linesPerSession: number;
  /** from the first kubectl started to the last one exited */
  execSeconds: number;
  /** from the first kubectl started to every session's output (and stream close) readable in the store */
  recordedSeconds: number;
  /** sessions whose recorded stdout holds every line, in order */
  complete: number;
  /** what was wrong with the others (lost or reordered lines), one entry per session */
  problems: string[];
  verify: { sessions: number; intact: number; problems: string[] };
  /** the gateway process's resident memory from the first kubectl to the last upload */
  gatewayMemory: MemoryPeak;
}

const expectedLine = (session: number, line: number) => `session-${session} line-${line}`;

function script(session: number, lines: number): string {
  return `i=0; while [ $i -lt ${lines} ]; do echo "session-${session} line-$i"; i=$((i+1)); done`;
}

/** What one recorded exec session shows so far. */
interface RecordedExec {
  /** N from the command `session-N`, once the stream-open is in the store */
  session?: number;
  lines: string[];
  closed: boolean;
}

async function readExec(store: RecordingStore, folder: { prefix: string; sessionId: string }): Promise<RecordedExec> {
  const found: RecordedExec = { lines: [], closed: false };
  const split = new StreamLines();
  let execRequest: string | undefined;
  for await (const event of sessionEvents(store, await storedSession(store, folder.sessionId, [], [folder.prefix])) as AsyncGenerator<RecordedEvent>) {
    if (event.type === 'stream-open') {
      execRequest = event.requestId;
      const match = /session-(\d+) line-/.exec(event.command?.join(' ') ?? '');
      if (match) found.session = Number(match[1]);
    } else if (event.type === 'stream' && event.requestId === execRequest && event.channel === 'stdout') {
      found.lines.push(...split.push(event.requestId, event.channel, event.data));
    } else if (event.type === 'stream-close' && event.requestId === execRequest) {
      found.lines.push(...split.end(event.requestId).filter((rest) => rest.channel === 'stdout').map((rest) => rest.line));
      found.closed = true;
    }
  }
  return found;
}

/** The first difference between what session N printed and what was recorded, or undefined. */
function difference(exec: RecordedExec, lines: number): string | undefined {
  for (let i = 0; i < Math.max(lines, exec.lines.length); i++) {
    if (exec.lines[i] !== expectedLine(exec.session!, i)) {
      return `session-${exec.session}: ${exec.lines.length}/${lines} lines recorded; line ${i} is ${JSON.stringify(exec.lines[i] ?? null)}, expected "${expectedLine(exec.session!, i)}"`;
    }
  }
  return undefined;
}

/** Session folders in the store and their segment count: a session is re-read only when it gained one. */
async function sessionFolders(store: RecordingStore): Promise<Map<string, { sessionId: string; segments: number }>> {
  const folders = new Map<string, { sessionId: string; segments: number }>();
  for await (const object of store.list('sessions/')) {
    const folder = sessionFolderOf(object.key);
    if (!folder || !object.key.endsWith('.jsonl')) continue;
    folders.set(folder.prefix, { sessionId: folder.sessionId, segments: (folders.get(folder.prefix)?.segments ?? 0) + 1 });
  }
  return folders;
}

/** Polls the store until every exec session is closed in it; the recordings of each, by N. */
async function waitForRecordings(setup: ExecSetup, deadline: number): Promise<Map<number, RecordedExec>> {
  const seen = new Map<string, { segments: number; exec: RecordedExec }>();
  for (;;) {
    for (const [prefix, { sessionId, segments }] of await sessionFolders(setup.store)) {
      const known = seen.get(prefix);
      if (known && (known.exec.closed || known.segments === segments)) continue;
      seen.set(prefix, { segments, exec: await readExec(setup.store, { prefix, sessionId }) });
    }
    const closed = [...seen.values()].filter(({ exec }) => exec.closed && exec.session !== undefined);
    if (closed.length >= setup.sessions) return new Map(closed.map(({ exec }) => [exec.session!, exec]));
    if (Date.now() > deadline) throw new Error(`after the deadline only ${closed.length}/${setup.sessions} exec sessions are closed in ${setup.store.url}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function verifyAll(env: NodeJS.ProcessEnv): Promise<VerifyReport[]> {
  const bin = join(packageRoot(), 'bin', 'kubegate');
  try {
    const { stdout } = await run(bin, ['sessions', 'verify', '--all', '--since', '2h', '-o', 'json'], { env, maxBuffer: 256 * 2 ** 20 });
    return JSON.parse(stdout) as VerifyReport[];
  } catch (error) {
    // verify exits 1 when a session fails; its report is still on stdout
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    if (!stdout) throw new Error(`kubegate sessions verify --all failed: ${stderr ?? String(error)}`);
    return JSON.parse(stdout) as VerifyReport[];
  }
}

export async function measureConcurrentExecs(setup: ExecSetup): Promise<ExecResult> {
  const pid = setup.gateway.process.pid!;
  const started = performance.now();
  let execSeconds = 0;
  const { result: recordings, memory: gatewayMemory } = await peakMemoryDuring(
    pid,
    async () => {
      const execs = Promise.all(
        Array.from({ length: setup.sessions }, async (_, n) => {
          const result = await setup.kubectl.run(['exec', setup.pod, '-n', setup.namespace, '--', 'sh', '-c', script(n, setup.linesPerSession)], { timeoutMs: 240_000 });
          const printed = result.stdout.split('\n').filter(Boolean).length;
          if (result.code !== 0 || printed !== setup.linesPerSession) throw new Error(`kubectl exec session-${n} exited ${result.code} after ${printed} lines: ${result.stderr.trim()}`);
        }),
      ).then(() => (execSeconds = (performance.now() - started) / 1000));
      const [recorded] = await Promise.all([waitForRecordings(setup, Date.now() + 240_000), execs]);
      return recorded;
    },
    50,
  );
  const recordedSeconds = (performance.now() - started) / 1000;
  const problems: string[] = [];
  for (let n = 0; n < setup.sessions; n++) {
    const exec = recordings.get(n);
    const problem = exec ? difference(exec, setup.linesPerSession) : `session-${n}: no recording with its stream closed`;
    if (problem) problems.push(problem);
  }

  await setup.gateway.stop(); // the drain ends every session (session-end, final segment) and uploads it
  const reports = await verifyAll(setup.cliEnv);
  const verifyProblems = reports.filter((report) => report.status !== 'intact').map((report) => `${report.sessionId}: ${report.status}: ${[...report.problems.map((problem) => problem.message), ...report.notes].join('; ')}`);
  return {
    sessions: setup.sessions,
    linesPerSession: setup.linesPerSession,
    execSeconds,
    recordedSeconds,
    complete: setup.sessions - problems.length,
    problems,
    verify: { sessions: reports.length, intact: reports.filter((report) => report.status === 'intact').length, problems: verifyProblems },
    gatewayMemory,
  };
}
