/**
 * The reading side on a StoreRecorder recording: search finds an API call from the command line a person
 * typed and text in a shell's streams; playback keeps the recorded pauses, scaled; time ranges and
 * session ids resolve the way the CLI promises; the writers of one session read as one session, their
 * events merged by time; v1 and v2 recordings read as they did, a base64 body (v3) is shown by its size,
 * and a newer format is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { commandLineMatches } from '../../src/audit/api-call.js';
import { segmentKey, UnsupportedRecordingVersion, type RecordedEvent } from '../../src/recording/format.js';
import { openStore } from '../../src/recording/open-store.js';
import { asciicastLines } from '../../src/audit/asciicast.js';
import { play, terminalFrames } from '../../src/audit/playback.js';
import { dayPrefixes, findSessions, resolveSession, timeRange } from '../../src/audit/query.js';
import { sessionEvents, storedSession, type SessionEvent } from '../../src/audit/reader.js';
import { SessionSearch } from '../../src/audit/search.js';
import { renderEntry, Timeline, type TimelineEntry } from '../../src/audit/timeline.js';
import { recordSession, v1Recording, v2Recording } from '../harness/recordings.js';

const pod7 = { verb: 'delete', resource: 'pods', name: 'api-7', namespace: 'payments', subresource: '' };

test('a command line as typed names the API call it became', () => {
  const words = (line: string) => line.split(' ');
  assert.ok(commandLineMatches(words('kubectl delete pod api-7'), pod7));
  assert.ok(commandLineMatches(words('delete po/api-7 -n payments'), pod7));
  assert.ok(commandLineMatches(words('kubectl delete pods api-7 --namespace=payments'), pod7));
  assert.ok(!commandLineMatches(words('kubectl delete pod api-8'), pod7));
  assert.ok(!commandLineMatches(words('kubectl delete pod api-7 -n default'), pod7));
  assert.ok(!commandLineMatches(words('kubectl get pod api-7'), pod7));
  const patch = { ...pod7, verb: 'patch' };
  assert.ok(commandLineMatches(words('kubectl apply pod api-7'), patch, 'kubectl apply'));
  assert.ok(!commandLineMatches(words('kubectl apply pod api-7'), patch, 'kubectl edit'), 'kubectl said it ran edit, not apply');
});

test('search finds the delete, and text typed into and printed by the shell', async () => {
  const session = await recordSession();
  const stored = await storedSession(session.store, session.metadata.sessionId, [], [session.folder]);
  const matches = async (query: string) => {
    const search = new SessionSearch(query);
    const found = [];
    for await (const event of sessionEvents(session.store, stored)) found.push(...search.push(event).map(({ where, line }) => `${where}: ${line}`));
    return found;
  };
  assert.deepEqual(await matches('kubectl delete pod api-7'), ['api: delete pods payments/api-7 (kubectl delete)']);
  assert.deepEqual(await matches('sécurité'), ['stdin: echo sécurité; exit', 'stdout: sécurité']);
  assert.deepEqual(await matches('BYE'), ['stderr: bye']);
  assert.deepEqual(await matches('kubectl delete pod api-99'), []);
});

test('playback waits the recorded pauses divided by the speed, and shows only the terminal', async () => {
  const at = (ms: number) => new Date(Date.UTC(2025, 2, 1, 9, 0, 0) + ms).toISOString();
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  async function* events(): AsyncGenerator<RecordedEvent> {
    yield { v: 1, seq: 0, time: at(0), type: 'stream', requestId: 'x', direction: 'server-to-client', channel: 'stdout', data: b64('$ ') };
    yield { v: 1, seq: 1, time: at(2000), type: 'stream', requestId: 'x', direction: 'client-to-server', channel: 'stdin', data: b64('ls\n') };
    yield { v: 1, seq: 2, time: at(3000), type: 'stream', requestId: 'x', direction: 'server-to-client', channel: 'stdout', data: b64('a b\n') };
    yield { v: 1, seq: 3, time: at(3500), type: 'stream', requestId: 'pf', direction: 'server-to-client', channel: 'port-data', port: 80, data: b64('HTTP') };
    yield { v: 1, seq: 4, time: at(9000), type: 'stream', requestId: 'x', direction: 'server-to-client', channel: 'stderr', data: b64('bye\n') };
  }
  const waits: number[] = [];
  const out = new PassThrough();
  let shown = '';
  out.on('data', (chunk: Buffer) => (shown += chunk.toString()));
  await play(terminalFrames(events()), out, { speed: 2, idleLimitMs: 2000, wait: async (ms) => waits.push(ms) });
  assert.equal(shown, '$ a b\nbye\n');
  assert.deepEqual(waits, [1500, 2000], '3 s / 2, then 6 s / 2 capped at the idle limit');
});

test('asciicast: output of a stream without a TTY gets a carriage return before each newline, a TTY\'s output and input are kept', async () => {
  const at = (ms: number) => new Date(Date.UTC(2025, 2, 1, 9, 0, 0) + ms).toISOString();
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const exec = (requestId: string, tty: string) => ({ type: 'request' as const, requestId, method: 'POST', path: `/api/v1/namespaces/a/pods/p/exec?command=sh&stdin=true${tty}`, attributes: {} });
  async function* events(): AsyncGenerator<RecordedEvent> {
    yield { v: 3, seq: 0, time: at(0), ...exec('plain', '') };
    yield { v: 3, seq: 1, time: at(0), ...exec('term', '&tty=true') };
    yield { v: 3, seq: 2, time: at(1), type: 'stream', requestId: 'plain', direction: 'server-to-client', channel: 'stdout', data: b64('one\ntwo\r\n') };
    yield { v: 3, seq: 3, time: at(2), type: 'stream', requestId: 'plain', direction: 'client-to-server', channel: 'stdin', data: b64('typed\n') };
    yield { v: 3, seq: 4, time: at(3), type: 'stream', requestId: 'term', direction: 'server-to-client', channel: 'stdout', data: b64('x\ny\r\n') };
  }
  const frames = [];
  for await (const line of asciicastLines(terminalFrames(events()))) frames.push(JSON.parse(line) as unknown);
  assert.deepEqual(frames.slice(1).map((frame) => (frame as unknown[]).slice(1)), [['o', 'one\r\ntwo\r\n'], ['i', 'typed\n'], ['o', 'x\ny\r\n']]);
});

test('time ranges list the days they touch; a session resolves from a prefix of its id', async () => {
  const range = timeRange({ from: '2025-02-27T23:00:00Z', to: '2025-03-01T01:00:00Z' });
  assert.deepEqual(dayPrefixes('index', range), ['index/2025/02/27/', 'index/2025/02/28/', 'index/2025/03/01/']);
  assert.throws(() => timeRange({ from: 'yesterday' }), /--from "yesterday" is not an RFC 3339 time/);
  assert.throws(() => timeRange({ since: 'two hours' }), /invalid duration "two hours"/);
  const old = new Date(Date.now() - 30 * 86_400_000);
  const session = await recordSession({ startedAt: old });
  const lastWeek = timeRange({});
  const found = [];
  for await (const index of findSessions(session.store, {}, lastWeek)) found.push(index);
  assert.deepEqual(found, [], 'a month-old session is outside the default 7 days');
  const resolved = await resolveSession(session.store, session.metadata.sessionId.slice(0, 6), lastWeek);
  assert.equal(resolved.sessionId, session.metadata.sessionId, 'an id resolves outside the range too');
  await assert.rejects(resolveSession(session.store, 'ffffffff', lastWeek), /no session ffffffff in file:\/\//);
});

// ---- several writers, versions ---------------------------------------------------------------------

const at = (ms: number) => new Date(Date.UTC(2025, 2, 1, 9, 0, 0) + ms).toISOString();

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** A store holding, for each writer, one segment of the given lines (no manifests: reading does not need them). */
async function storeWith(chains: Record<string, object[]>) {
  const store = openStore(`file://${mkdtempSync(join(tmpdir(), 'kubegate-store-'))}`);
  const folder = 'sessions/2025/03/01/deploy-bot/s1/';
  for (const [writer, lines] of Object.entries(chains)) await store.put(segmentKey(`${folder}${writer}/`, 0), Buffer.from(lines.map((line) => `${JSON.stringify(line)}\n`).join('')));
  return { store, session: await storedSession(store, 's1', [], [folder]) };
}

test("two writers' events merge by time, each writer's order kept, each event naming its writer", async () => {
  const line = (seq: number, ms: number, requestId: string) => ({ v: 2, seq, time: at(ms), type: 'stream-close', requestId, reason: '' });
  const end = (seq: number, ms: number) => ({ v: 2, seq, time: at(ms), type: 'session-end', reason: 'idle' });
  const { store, session } = await storeWith({
    'gateway-a': [line(0, 0, 'a0'), line(1, 20, 'a1'), end(2, 30)],
    'gateway-b': [line(0, 10, 'b0'), line(1, 20, 'b1'), line(2, 30, 'b2'), line(3, 50, 'b3')],
  });
  assert.deepEqual(session.chains.map((chain) => chain.writer), ['gateway-a', 'gateway-b']);
  const events = await collect(sessionEvents(store, session));
  assert.deepEqual(events.map((event) => [event.writer, (event as { requestId?: string }).requestId ?? event.type]), [
    ['gateway-a', 'a0'], ['gateway-b', 'b0'], ['gateway-a', 'a1'], ['gateway-b', 'b1'], ['gateway-b', 'b2'], ['gateway-a', 'session-end'], ['gateway-b', 'b3'],
  ], 'equal times in chain order, but an end after what happened at its time');
  const single = await storeWith({ 'gateway-a': [line(0, 0, 'a0')] });
  assert.equal((await collect(sessionEvents(single.store, single.session)))[0]!.writer, undefined, 'a single writer reads as before');
});

test('a session of two writers reads as one: found once, its calls all shown, one start and one end', async () => {
  const session = await recordSession({ writers: ['gateway-a', 'gateway-b'] });
  const found = await collect(findSessions(session.store, {}, timeRange({ since: '1h' })));
  assert.equal(found.length, 1);
  const { summary, indexes } = found[0]!;
  assert.deepEqual(summary.writers, ['gateway-a', 'gateway-b']);
  assert.equal(summary.events, indexes[0]!.events + indexes[1]!.events);
  assert.ok(summary.resources.includes('pods/exec') && summary.decisions.includes('RequireApproval'), 'lists joined across the writers');
  assert.notEqual(summary.endedAt, null);
  assert.equal((await resolveSession(session.store, session.metadata.sessionId.slice(0, 8), timeRange({}))).indexes.length, 2);

  const events = await collect(sessionEvents(session.store, await storedSession(session.store, summary.sessionId, indexes)));
  assert.equal(events.length, summary.events);
  assert.deepEqual([...events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)).map((event) => event.time), events.map((event) => event.time), 'in time order');
  for (const writer of ['gateway-a', 'gateway-b']) {
    const seqs = events.filter((event) => event.writer === writer).map((event) => event.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i), `${writer}'s seq from 0, in order`);
  }
  const timeline = new Timeline();
  const entries: TimelineEntry[] = [...events.flatMap((event) => timeline.push(event)), ...timeline.end()];
  // the recorders' clock ticks in ms, so many events share a time: only what does not depend on ties is checked
  const kinds = entries.map((entry) => entry.kind);
  assert.equal(kinds[0], 'session-start');
  assert.equal(kinds.at(-1), 'session-end');
  assert.deepEqual(['session-start', 'writer-start', 'writer-end', 'session-end'].map((kind) => kinds.filter((each) => each === kind).length), [1, 1, 1, 1]);
  assert.equal(entries.filter((entry) => entry.kind === 'api' && entry.status !== undefined).length, 14, 'every call with its response, whichever writer had it');
  assert.match(entries.map(renderEntry).join('\n'), /\+ writer gateway-b joins {2}client 10\.0\.0\.7/);
  const search = new SessionSearch('kubectl delete pod api-7');
  assert.deepEqual(events.flatMap((event) => search.push(event)).map(({ where, writer }) => `${where} ${writer}`), ['api gateway-a']);
});

test('a v1 recording is found by a prefix of its id, read and shown as before', async () => {
  const v1 = v1Recording();
  const found = await resolveSession(v1.store, '8ebe0df3', timeRange({ from: '2025-03-01T00:00:00Z', to: '2025-03-02T00:00:00Z' }));
  assert.deepEqual(found.indexes.map((index) => [index.v, index.writer]), [[1, undefined]]);
  assert.equal(found.summary, found.indexes[0], 'a single index is the summary');
  const events = await collect(sessionEvents(v1.store, await storedSession(v1.store, found.sessionId, found.indexes)));
  assert.deepEqual(events.map((event) => event.seq), events.map((_, i) => i));
  const timeline = new Timeline();
  const lines = [...events.flatMap((event) => timeline.push(event)), ...timeline.end()].map(renderEntry);
  assert.match(lines[0]!, /session start {2}subject User\/deploy-bot {2}grant kubegate-system\/deploy-bot-payments/);
  assert.match(lines.join('\n'), /delete pods payments\/api-7 +RequireApproval \(deletes-need-a-human\) 200 11ms {2}✓ approved once by ApprovalRequest delete-pods-x7k2\n/);
  assert.match(lines.join('\n'), /stdin> echo sécurité; exit\n.*GAP: events after seq 3 were lost/s);
  assert.match(lines.at(-1)!, /session end: done$/);
});

test('a line of a newer format stops reading with one clear error', async () => {
  const { store, session } = await storeWith({ 'gateway-a': [{ v: 6, seq: 0, time: at(0), type: 'hologram' }] });
  await assert.rejects(collect(sessionEvents(store, session)), (error: Error) => error instanceof UnsupportedRecordingVersion && /segment-000000\.jsonl line 1 is in recording format v6; this kubegate reads v1 to v5: read it with a newer kubegate$/.test(error.message));
});

test("sessions show names a request body's content type when it is not JSON", () => {
  const request = (requestId: string, contentType?: string): SessionEvent => ({ v: 2, seq: 0, time: at(0), type: 'request', requestId, method: 'PATCH', path: '/x', attributes: { verb: 'patch' }, ...(contentType ? { contentType } : {}) });
  const timeline = new Timeline();
  for (const event of [request('merge', 'application/merge-patch+json'), request('json', 'application/json; charset=utf-8'), request('none')]) timeline.push(event);
  const shown = timeline.end();
  assert.equal((shown[0] as { contentType?: string }).contentType, 'application/merge-patch+json');
  assert.deepEqual(shown.map(renderEntry).map((line) => line.match(/\[.*\]/)?.[0] ?? ''), ['[application/merge-patch+json]', '', '']);
});

test('a v2 recording is found, read and shown as before', async () => {
  const v2 = v2Recording();
  const found = await resolveSession(v2.store, v2.sessionId.slice(0, 8), timeRange({ from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' }));
  assert.deepEqual(found.indexes.map((index) => [index.v, index.writer]), [[2, 'gateway-0']]);
  const events = await collect(sessionEvents(v2.store, await storedSession(v2.store, found.sessionId, found.indexes)));
  const timeline = new Timeline();
  const lines = [...events.flatMap((event) => timeline.push(event)), ...timeline.end()].map(renderEntry).join('\n');
  assert.match(lines, /get pods payments\/api-2 +Allow +200 3ms\n/);
  assert.match(lines, /delete pods payments\/api-7 +RequireApproval \(deletes-need-a-human\) 200 11ms {2}✓ approved once by ApprovalRequest delete-pods-x7k2\n/);
  assert.match(lines, /session end: done$/);
});

test('sessions show prints a body recorded as base64 by its size, never its bytes; search does not match inside it', () => {
  const protobuf = Buffer.concat([Buffer.from('k8s\0'), Buffer.from('\x0a\x02v1 AKIAABCDEFGHIJKLMNOP', 'latin1')]);
  const body = protobuf.toString('base64');
  const events: SessionEvent[] = [
    { v: 3, seq: 1, time: at(0), type: 'request', requestId: 'cm', method: 'GET', path: '/api/v1/namespaces/payments/configmaps/app', attributes: { verb: 'get', resource: 'configmaps', namespace: 'payments', name: 'app', isResourceRequest: true } },
    { v: 3, seq: 2, time: at(1), type: 'response', requestId: 'cm', status: 200, contentType: 'application/vnd.kubernetes.protobuf', body, bodyEncoding: 'base64', bodyBytes: protobuf.length, durationMs: 4 },
    { v: 3, seq: 3, time: at(2), type: 'request', requestId: 'up', method: 'PUT', path: '/api/v1/namespaces/payments/configmaps/app', attributes: { verb: 'update', resource: 'configmaps', namespace: 'payments', name: 'app', isResourceRequest: true }, contentType: 'application/cbor', body: 'oWE=', bodyEncoding: 'base64', bodyBytes: 9, bodyTruncated: true },
    { v: 3, seq: 4, time: at(3), type: 'response', requestId: 'up', status: 200, contentType: 'application/json', body: '{}', bodyBytes: 2, durationMs: 5 },
  ];
  const timeline = new Timeline();
  const lines = [...events.flatMap((event) => timeline.push(event)), ...timeline.end()].map(renderEntry);
  assert.match(lines[0]!, /get configmaps payments\/app .* 200 4ms {2}\[response body: 29 bytes, base64, application\/vnd\.kubernetes\.protobuf\]$/);
  assert.match(lines[1]!, /update configmaps payments\/app .* 200 5ms {2}\[application\/cbor\] {2}\[request body: 2 bytes of 9, base64\]$/);
  assert.ok(!lines.join('\n').includes(body), 'the base64 is not printed');
  const search = new SessionSearch('AKIA');
  assert.deepEqual(events.flatMap((event) => search.push(event)), []);
});
