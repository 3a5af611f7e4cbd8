/**
 * The reading side on a StoreRecorder recording: search finds an API call from the command line a person
 * typed and text in a shell's streams; playback keeps the recorded pauses, scaled; time ranges and
 * session ids resolve the way the CLI promises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { commandLineMatches } from '../../src/audit/api-call.js';
import type { RecordedEvent } from '../../src/recording/format.js';
import { play, terminalFrames } from '../../src/audit/playback.js';
import { dayPrefixes, findSessions, resolveSession, timeRange } from '../../src/audit/query.js';
import { sessionEvents, storedSession } from '../../src/audit/reader.js';
import { SessionSearch } from '../../src/audit/search.js';
import { recordSession } from '../harness/recordings.js';

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
