/**
 * The recorder alone: `StoreRecorder` sessions recording concurrently into a store, as fast as it lets
 * them (every `record()` awaited: its back-pressure sets the pace), until `flush()` says everything is
 * in the store. Events are generated as they are recorded, from a few shared bodies and frames, so the
 * bench's own memory stays flat and the process's peak RSS is the recorder's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexKey, type RecordEvent, type SessionMetadata } from '../../src/recording/format.js';
import { readIndex } from '../../src/audit/query.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { peakMemoryDuring, type MemoryPeak } from '../process-memory.js';

export interface RecordingMix {
  sessions: number;
  /** API calls per session: a request, a decision and a response each. */
  apiCalls: number;
  /** 32 KiB stdout frames per session, spread among the API calls. */
  streamFrames: number;
}

export interface ThroughputResult {
  store: string;
  sessions: number;
  /** events the sessions recorded, with each session's start and end */
  events: number;
  /** bytes of the segments in the store */
  bytes: number;
  seconds: number;
  eventsPerSecond: number;
  megabytesPerSecond: number;
  /** this process's resident memory while recording */
  memory: MemoryPeak;
}

const streamFrameBytes = 32 * 1024;

/** JSON bodies of 1–4 KB, the size of a typical object in a GET or an apply. */
function apiBodies(): string[] {
  return [1024, 1800, 2600, 3400, 4096].map((size, i) => {
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `settings-${i}`, namespace: 'payments', labels: { app: 'payments', tier: 'backend' } }, data: {} as Record<string, string> };
    for (let key = 0; JSON.stringify(object).length < size; key++) object.data[`key-${key}`] = randomBytes(24).toString('hex');
    return JSON.stringify(object);
  });
}

function metadata(index: number): SessionMetadata {
  return {
    sessionId: randomUUID(),
    tokenId: `bench-token-${index}`,
    subject: { kind: 'User', name: `bench-user-${index}` },
    grant: { namespace: 'bench', name: `grant-${index}`, uid: randomUUID() },
    policy: { namespace: 'bench', name: 'prod', version: '1' },
    client: { address: '127.0.0.1', userAgent: 'kubectl/v1.31.0', command: 'kubectl apply' },
    startedAt: new Date().toISOString(),
  };
}

/** One session's events, made as they are recorded: API calls with a stream frame every few calls. */
function* sessionEvents(mix: RecordingMix, bodies: string[], frames: string[]): Generator<RecordEvent> {
  const callsPerFrame = Math.max(1, Math.floor(mix.apiCalls / Math.max(1, mix.streamFrames)));
  let framesLeft = mix.streamFrames;
  if (framesLeft > 0) yield { type: 'stream-open', requestId: 'exec', protocol: 'websocket v5.channel.k8s.io', command: ['sh', '-c', 'tail -f /var/log/app.log'] };
  for (let call = 0; call < mix.apiCalls || framesLeft > 0; call++) {
    if (call < mix.apiCalls) {
      const requestId = `r${call}`;
      const write = call % 4 === 0;
      const name = `settings-${call % bodies.length}`;
      const path = `/api/v1/namespaces/payments/configmaps${write ? '' : `/${name}`}`;
      const attributes = { isResourceRequest: true, path, verb: write ? 'create' : 'get', apiPrefix: 'api', apiGroup: '', apiVersion: 'v1', namespace: 'payments', resource: 'configmaps', subresource: '', name: write ? '' : name, parts: ['configmaps'], query: {} };
      const body = bodies[call % bodies.length]!;
      yield { type: 'request', requestId, method: write ? 'POST' : 'GET', path, attributes, ...(write ? { body, bodyBytes: body.length } : {}) };
      yield { type: 'decision', requestId, action: 'Allow', rule: 'default', message: 'default action' };
      yield { type: 'response', requestId, status: write ? 201 : 200, body, bodyBytes: body.length, durationMs: 3 };
    }
    if (framesLeft > 0 && (call % callsPerFrame === callsPerFrame - 1 || call >= mix.apiCalls)) {
      yield { type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stdout', data: frames[framesLeft % frames.length]! };
      if (--framesLeft === 0) yield { type: 'stream-close', requestId: 'exec', reason: 'exit 0' };
    }
  }
}

/** Bytes of every object under `prefix`. */
async function storedBytes(store: RecordingStore, prefix: string, suffix: string): Promise<number> {
  let bytes = 0;
  for await (const object of store.list(prefix)) if (object.key.endsWith(suffix)) bytes += object.size;
  return bytes;
}

/**
 * Records `mix` into `store` (which must be empty: the bytes counted are every segment in it) and
 * checks each session's index counts every event it was given.
 */
export async function measureRecorderThroughput(store: RecordingStore, mix: RecordingMix): Promise<ThroughputResult> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'kubegate-bench-spool-'));
  const bodies = apiBodies();
  const frames = Array.from({ length: 4 }, () => randomBytes(streamFrameBytes).toString('base64'));
  const recorder = new StoreRecorder({ store, spoolDir });
  try {
    await recorder.start();
    const sessions = Array.from({ length: mix.sessions }, (_, i) => metadata(i));
    const started = performance.now();
    const { result: recorded, memory } = await peakMemoryDuring(process.pid, async () => {
      const counts = await Promise.all(
        sessions.map(async (session) => {
          const recording = recorder.open(session);
          let events = 0;
          for (const event of sessionEvents(mix, bodies, frames)) {
            await recording.record(event);
            events++;
          }
          await recording.close('done');
          return events + 2; // with session-start and session-end
        }),
      );
      await recorder.flush();
      return counts;
    });
    const seconds = (performance.now() - started) / 1000;
    for (const [i, session] of sessions.entries()) {
      const index = await readIndex(store, indexKey({ ...session, writer: recorder.writerId }));
      if (index.events !== recorded[i] || index.endedAt === null) throw new Error(`${store.url}: session ${session.sessionId} has ${index.events} of ${recorded[i]} events in its index (ended: ${index.endedAt})`);
    }
    const events = recorded.reduce((sum, n) => sum + n, 0);
    const bytes = await storedBytes(store, 'sessions/', '.jsonl');
    return { store: store.url, sessions: mix.sessions, events, bytes, seconds, eventsPerSecond: events / seconds, megabytesPerSecond: bytes / 1e6 / seconds, memory };
  } finally {
    await recorder.stop();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}
