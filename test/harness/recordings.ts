/**
 * Real recordings for the reader's unit tests: sessions written by the gateway's own `StoreRecorder` into
 * a `file://` store, with every event type, spread over several segments — by one writer, or by several
 * (gateway processes) sharing the session's requests.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { chainPrefix, indexKey, sessionFolder, type RecordEvent, type SessionMetadata } from '../../src/recording/format.js';
import { openStore } from '../../src/recording/open-store.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { EvidenceOptions } from '../../src/recording/evidence.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { packageRoot } from '../../src/util/package-root.js';

export interface RecordedChain {
  writer: string;
  /** The folder of the writer's segments and manifests. */
  prefix: string;
  indexKey: string;
}

export interface RecordedSession {
  store: RecordingStore;
  /** The store's folder: tests tamper with the files under it. */
  dir: string;
  metadata: SessionMetadata;
  /** The session's folder. */
  folder: string;
  /** Each writer's chain, in the order of `RecordOptions.writers`. */
  chains: RecordedChain[];
  /** The first writer's chain folder and index key (a single-writer session's only ones). */
  prefix: string;
  indexKey: string;
  /** Stops the recorders (an open session is closed then). */
  stop(): Promise<void>;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

export function sessionMetadata(startedAt = new Date(), subject: SessionMetadata['subject'] = { kind: 'User', name: 'deploy-bot' }): SessionMetadata {
  return {
    sessionId: randomUUID(),
    tokenId: 'token-1',
    subject,
    grant: { namespace: 'kubegate-system', name: 'deploy-bot-payments', uid: randomUUID() },
    policy: { namespace: 'kubegate-system', name: 'prod', version: '7' },
    client: { address: '10.0.0.7', userAgent: 'kubectl/v1.31.0', command: 'kubectl delete' },
    startedAt: startedAt.toISOString(),
  };
}

function attributes(verb: string, resource: string, name: string, subresource = '') {
  return { isResourceRequest: true, path: `/api/v1/namespaces/payments/${resource}/${name}`, verb, apiPrefix: 'api', apiGroup: '', apiVersion: 'v1', namespace: 'payments', resource, subresource, name, parts: [resource, name], query: {} };
}

/** API calls, an approval, an exec with stdin, output and a resize, a recorded gap: every event type. */
export function sampleEvents(calls = 12): RecordEvent[] {
  const events: RecordEvent[] = [];
  for (let i = 0; i < calls; i++) {
    const requestId = `r${i}`;
    events.push({ type: 'request', requestId, method: 'GET', path: `/api/v1/namespaces/payments/pods/api-${i}`, attributes: attributes('get', 'pods', `api-${i}`) });
    events.push({ type: 'decision', requestId, action: 'Allow', message: 'default action' });
    events.push({ type: 'response', requestId, status: 200, body: JSON.stringify({ kind: 'Pod', metadata: { name: `api-${i}` }, padding: 'x'.repeat(300) }), bodyBytes: 340, durationMs: 3 });
  }
  events.push({ type: 'request', requestId: 'del', method: 'DELETE', path: '/api/v1/namespaces/payments/pods/api-7', attributes: attributes('delete', 'pods', 'api-7'), contentType: 'application/json', body: '{}', bodyBytes: 2 });
  events.push({ type: 'decision', requestId: 'del', action: 'RequireApproval', rule: 'deletes-need-a-human', message: 'deleting pods needs an approval' });
  events.push({ type: 'decision', requestId: 'del', action: 'Allow', message: 'approved once by ApprovalRequest delete-pods-x7k2', approval: 'delete-pods-x7k2' });
  events.push({ type: 'response', requestId: 'del', status: 200, bodyBytes: 0, durationMs: 11 });
  events.push({ type: 'request', requestId: 'exec', method: 'GET', path: '/api/v1/namespaces/payments/pods/api-1/exec?command=sh&stdin=true', attributes: attributes('create', 'pods', 'api-1', 'exec') });
  events.push({ type: 'decision', requestId: 'exec', action: 'Allow', message: 'default action' });
  events.push({ type: 'stream-open', requestId: 'exec', protocol: 'websocket v5.channel.k8s.io', command: ['sh'] });
  events.push({ type: 'stream', requestId: 'exec', direction: 'client-to-server', channel: 'resize', data: b64('{"Width":120,"Height":40}') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'client-to-server', channel: 'stdin', data: b64('cat /etc/hostname\n') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stdout', data: b64('api-1\n') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'client-to-server', channel: 'stdin', data: b64('echo sécurité; ') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'client-to-server', channel: 'stdin', data: b64('exit\n') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stdout', data: b64('sécurité\n') });
  events.push({ type: 'stream', requestId: 'exec', direction: 'server-to-client', channel: 'stderr', data: b64('bye\n') });
  events.push({ type: 'gap', afterSeq: 3, reason: 'test: a gap the gateway recorded' });
  events.push({ type: 'stream-close', requestId: 'exec', reason: 'exit 0' });
  return events;
}

export interface RecordOptions {
  events?: RecordEvent[];
  /** Small by default, so a session spans several segments. */
  maxSegmentBytes?: number;
  /** Leave the session open (no session-end). */
  open?: boolean;
  startedAt?: Date;
  subject?: SessionMetadata['subject'];
  /** The writers' ids (default one, `gateway-0`): requests go to them in turn, as a load balancer spreads them; other events to the first. */
  writers?: string[];
  /** Sign manifests and write checkpoints (format v5 evidence). */
  evidence?: EvidenceOptions;
}

/** The writer of each event: each request (by id, in order of appearance) to the next writer in turn. */
function route(events: RecordEvent[], writers: number): number[] {
  const requests = new Map<string, number>();
  return events.map((event) => {
    if (!('requestId' in event)) return 0;
    if (!requests.has(event.requestId)) requests.set(event.requestId, requests.size % writers);
    return requests.get(event.requestId)!;
  });
}

/** Records one session through StoreRecorders (one per writer) into a fresh `file://` store and waits until it is uploaded. */
export async function recordSession(options: RecordOptions = {}): Promise<RecordedSession> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-store-'));
  const store = openStore(`file://${dir}`);
  const writers = options.writers ?? ['gateway-0'];
  const recorders = writers.map((writerId) => new StoreRecorder({ store, writerId, spoolDir: mkdtempSync(join(tmpdir(), 'kubegate-spool-')), maxSegmentBytes: options.maxSegmentBytes ?? 2048, ...(options.evidence ? { evidence: options.evidence } : {}) }));
  for (const recorder of recorders) await recorder.start();
  const metadata = sessionMetadata(options.startedAt, options.subject);
  const sessions = recorders.map((recorder) => recorder.open(metadata));
  const events = options.events ?? sampleEvents();
  const writerOf = route(events, writers.length);
  for (const [i, event] of events.entries()) await sessions[writerOf[i]!]!.record(event);
  if (!options.open) for (const session of sessions) await session.close('done');
  for (const recorder of recorders) await recorder.flush();
  const stop = async () => {
    for (const recorder of recorders) await recorder.stop();
  };
  if (!options.open) await stop();
  const chains = writers.map((writer) => ({ writer, prefix: chainPrefix({ ...metadata, writer }), indexKey: indexKey({ ...metadata, writer }) }));
  return { store, dir, metadata, folder: sessionFolder(metadata), chains, prefix: chains[0]!.prefix, indexKey: chains[0]!.indexKey, stop };
}

/** The v1 recording in test/fixtures/recording-v1 (made by the v1 writer), copied into a fresh `file://` store. */
export function v1Recording(): { store: RecordingStore; dir: string; sessionId: string; prefix: string; indexKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-store-v1-'));
  cpSync(join(packageRoot(), 'test', 'fixtures', 'recording-v1'), dir, { recursive: true });
  const sessionId = '8ebe0df3-b556-4001-8e25-7d518e2ca548';
  return { store: openStore(`file://${dir}`), dir, sessionId, prefix: `sessions/2025/03/01/deploy-bot/${sessionId}/`, indexKey: `index/2025/03/01/${sessionId}.json` };
}

/** The v2 recording in test/fixtures/recording-v2 (made by the v2 writer, one writer `gateway-0`), copied into a fresh `file://` store. */
export function v2Recording(): { store: RecordingStore; dir: string; sessionId: string; prefix: string; indexKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-store-v2-'));
  cpSync(join(packageRoot(), 'test', 'fixtures', 'recording-v2'), dir, { recursive: true });
  const sessionId = 'ce2e79c8-a1c4-4f22-bbd0-91f48bc6daa7';
  return { store: openStore(`file://${dir}`), dir, sessionId, prefix: `sessions/2026/03/01/deploy-bot/${sessionId}/gateway-0/`, indexKey: `index/2026/03/01/${sessionId}/gateway-0.json` };
}
