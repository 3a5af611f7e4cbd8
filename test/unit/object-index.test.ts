/**
 * The per-object index (format v4): the calls CallTracker assembles from a chain's events, the keys they
 * are filed under, and the writer that files them with each sealed segment — bounded, under the segment's
 * retention, and after a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { callsKey, objectFolder, objectIndexKey, type RecordEvent, type SessionMetadata } from '../../src/recording/format.js';
import { CallTracker, maxPendingCalls, type ObjectIndexEntry } from '../../src/recording/object-index.js';
import { FileStore } from '../../src/recording/file-store.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { schemaErrors } from '../../src/recording/schemas.js';

const chain = { v: 4, session: 's-1', writer: 'gateway-0', subject: 'alice', grant: 'kubegate-system/alice-admin' };

function temp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kubegate-${prefix}-`));
}

let seq = 0;
const at = (event: RecordEvent) => ({ ...event, seq: seq++, time: '2026-03-01T10:00:00.000Z' });

function request(requestId: string, verb: string, resource: string, options: { namespace?: string; name?: string; subresource?: string; body?: string; group?: string } = {}): RecordEvent {
  const attributes = { isResourceRequest: true, verb, apiGroup: options.group ?? '', namespace: options.namespace ?? '', resource, subresource: options.subresource ?? '', name: options.name ?? '' };
  return { type: 'request', requestId, method: verb === 'create' ? 'POST' : 'GET', path: `/${resource}`, attributes, ...(options.body ? { body: options.body, bodyBytes: options.body.length } : {}) };
}

const response = (requestId: string, status: number, body?: string): RecordEvent => ({ type: 'response', requestId, status, ...(body ? { body } : {}), bodyBytes: body?.length ?? 0, durationMs: 1 });

test('a create is filed under the name in its request body, or (generateName) in its response body', () => {
  const tracker = new CallTracker(chain);
  tracker.observe(at(request('a', 'create', 'namespaces', { body: '{"metadata":{"name":"payments"}}' })), 0);
  tracker.observe(at({ type: 'decision', requestId: 'a', action: 'Allow', rule: 'admins', message: 'ok' }), 0);
  const created = tracker.observe(at(response('a', 201, '{"metadata":{"name":"payments","uid":"u"}}')), 0);
  assert.equal(created?.name, 'payments');
  assert.equal(created?.namespace, '', 'a namespace is cluster-scoped');
  assert.equal(created?.rule, 'admins');
  tracker.observe(at(request('b', 'create', 'pods', { namespace: 'payments', body: '{"metadata":{"generateName":"api-"}}' })), 0);
  tracker.observe(at({ type: 'decision', requestId: 'b', action: 'Allow', message: 'ok' }), 0);
  assert.equal(tracker.observe(at(response('b', 201, '{"metadata":{"name":"api-x7k2"}}')), 0)?.name, 'api-x7k2');
  tracker.observe(at(request('c', 'list', 'pods', { namespace: 'payments' })), 0);
  assert.equal(tracker.observe(at(response('c', 200, '{"items":[]}')), 0)?.name, '', 'a list names no object');
  const filed = tracker.takeSegment(0, false);
  assert.deepEqual(filed.map((entry) => [entry.verb, entry.resource, entry.namespace, entry.name, entry.status]), [
    ['create', 'namespaces', '', 'payments', 201],
    ['create', 'pods', 'payments', 'api-x7k2', 201],
  ]);
  for (const entry of filed) assert.equal(schemaErrors('object', entry), null);
});

test('an approved call keeps the rule that held it and names its ApprovalRequest; an exec its command and exit code', () => {
  const tracker = new CallTracker(chain);
  tracker.observe(at(request('d', 'delete', 'pods', { namespace: 'payments', name: 'api-7' })), 0);
  tracker.observe(at({ type: 'decision', requestId: 'd', action: 'RequireApproval', rule: 'deletes-need-a-human', message: 'needs approval' }), 0);
  tracker.observe(at({ type: 'decision', requestId: 'd', action: 'Allow', message: 'approved once by ApprovalRequest delete-pods-x7k2' }), 0);
  const deleted = tracker.observe(at(response('d', 200)), 0)!;
  assert.deepEqual([deleted.decision, deleted.rule, deleted.approval, deleted.status], ['RequireApproval', 'deletes-need-a-human', 'delete-pods-x7k2', 200]);
  tracker.observe(at(request('e', 'create', 'pods', { namespace: 'payments', name: 'api-1', subresource: 'exec' })), 0);
  tracker.observe(at({ type: 'decision', requestId: 'e', action: 'Allow', message: 'ok' }), 0);
  tracker.observe(at({ type: 'stream-open', requestId: 'e', protocol: 'v5.channel.k8s.io', command: ['sh', '-c', 'exit 3'] }), 0);
  const status = { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } };
  assert.equal(tracker.observe(at({ type: 'stream', requestId: 'e', direction: 'server-to-client', channel: 'error', data: Buffer.from(JSON.stringify(status)).toString('base64') }), 0), undefined);
  const exec = tracker.observe(at({ type: 'stream-close', requestId: 'e', reason: 'done' }), 1)!;
  assert.deepEqual([exec.subresource, exec.command, exec.exitCode, exec.status], ['exec', 'sh -c exit 3', 3, 101]);
  assert.deepEqual(tracker.takeSegment(0, false).map((entry) => entry.requestId), ['d']);
  assert.deepEqual(tracker.takeSegment(1, false).map((entry) => entry.requestId), ['e'], 'filed in the segment the call ended in');
});

test('the tracker holds only calls in flight: ended ones leave with their segment, the final segment files the rest, and past the cap the oldest is filed', () => {
  const tracker = new CallTracker(chain);
  tracker.observe(at(request('open', 'get', 'pods', { namespace: 'a', name: 'p' })), 0);
  assert.deepEqual(tracker.takeSegment(0, false), []);
  assert.equal(tracker.inFlightAt(Infinity).length, 1);
  const restored = new CallTracker(chain, JSON.parse(JSON.stringify(tracker.inFlightAt(Infinity))));
  restored.observe(at(response('open', 200)), 1);
  assert.deepEqual(restored.takeSegment(1, false).map((entry) => entry.name), ['p'], 'a call restored from the spool state ends in a later segment');
  const final = new CallTracker(chain);
  final.observe(at(request('never', 'get', 'pods', { namespace: 'a', name: 'q' })), 0);
  assert.deepEqual(final.takeSegment(0, true).map((entry) => [entry.name, entry.status]), [['q', null]]);
  assert.equal(final.inFlightAt(Infinity).length, 0);
  const crowded = new CallTracker(chain);
  for (let i = 0; i <= maxPendingCalls; i++) crowded.observe(at(request(`r${i}`, 'get', 'pods', { namespace: 'a', name: `p${i}` })), 0);
  assert.equal(crowded.inFlightAt(Infinity).length, maxPendingCalls);
  assert.deepEqual(crowded.takeSegment(0, false).map((entry) => entry.name), ['p0']);
});

test('a v4 or v5 chain files only the calls that name an object; a v6 chain every call on a resource, a list too', () => {
  for (const [v, filed] of [[4, ['get']], [5, ['get']], [6, ['get', 'list']]] as const) {
    const tracker = new CallTracker({ ...chain, v });
    tracker.observe(at(request('g', 'get', 'pods', { namespace: 'a', name: 'p' })), 0);
    tracker.observe(at(response('g', 200)), 0);
    tracker.observe(at(request('l', 'list', 'pods', { namespace: 'a' })), 0);
    tracker.observe(at(response('l', 200)), 0);
    assert.deepEqual(tracker.takeSegment(0, false).map((entry) => entry.verb), filed, `v${v}`);
  }
});

test('object keys: group core, namespace _cluster, every part encoded, a date partition from the call', () => {
  const entry = { time: '2026-03-01T23:59:59.999Z', session: 's-1', writer: 'gateway-0', group: '', resource: 'namespaces', namespace: '', name: 'payments' };
  assert.equal(objectIndexKey(entry, 3), 'objects/core/namespaces/_cluster/payments/2026/03/01/s-1-gateway-0-000003.jsonl');
  assert.equal(callsKey(entry, 3), 'calls/2026/03/01/s-1-gateway-0-000003.jsonl', 'v6: the calls table, the date first');
  assert.equal(objectFolder({ group: 'apps', resource: 'deployments', namespace: 'web', name: 'api' }), 'objects/apps/deployments/web/api/');
  assert.equal(objectFolder({ group: 'example.com', resource: 'widgets', namespace: 'a', name: '../b' }), 'objects/example.com/widgets/a/%2E.%2Fb/', 'no name leaves its folder');
});

function metadata(): SessionMetadata {
  return {
    sessionId: randomUUID(),
    tokenId: 't',
    subject: { kind: 'ServiceAccount', name: 'bot', namespace: 'ci' },
    grant: { namespace: 'kubegate-system', name: 'bot-grant', uid: 'u' },
    policy: { namespace: 'kubegate-system', name: 'prod', version: '1' },
    client: {},
    startedAt: new Date().toISOString(),
  };
}

async function objectKeys(store: RecordingStore, prefix = 'objects/'): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

async function entriesUnder(store: RecordingStore, keys: string[]): Promise<ObjectIndexEntry[]> {
  const entries: ObjectIndexEntry[] = [];
  for (const key of keys) for (const line of (await text(await store.get(key))).split('\n').filter(Boolean)) entries.push(JSON.parse(line) as ObjectIndexEntry);
  return entries;
}

test('the StoreRecorder files each sealed segment\'s calls under their objects, with its retention, nothing before the seal', async () => {
  const storeDir = temp('store');
  const store = new FileStore(storeDir);
  const recorder = new StoreRecorder({ store, spoolDir: temp('spool'), maxSegmentBytes: 2048, maxSegmentAgeMs: 600_000, retention: { mode: 'Governance', days: 1 } });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  await session.record(request('ns', 'create', 'namespaces', { body: '{"metadata":{"name":"payments"}}' }));
  await session.record({ type: 'decision', requestId: 'ns', action: 'Allow', message: 'ok' });
  await recorder.flush();
  assert.deepEqual(await objectKeys(store), [], 'nothing is filed before its segment seals');
  await session.record({ type: 'request', requestId: 'pad', method: 'GET', path: '/healthz', attributes: { isResourceRequest: false, verb: 'get', path: '/healthz' }, body: 'x'.repeat(2100), bodyBytes: 2100 });
  await session.record(response('ns', 201, '{"metadata":{"name":"payments"}}'));
  for (let i = 0; i < 20; i++) {
    await session.record(request(`g${i}`, 'get', 'pods', { namespace: 'payments', name: `api-${i % 2}` }));
    await session.record(response(`g${i}`, 200));
  }
  await session.record(request('l', 'list', 'pods', { namespace: 'payments' }));
  await session.record(response('l', 200, '{"items":[]}'));
  await session.close('idle');
  await recorder.flush();
  const keys = await objectKeys(store);
  const day = meta.startedAt.slice(0, 10).replaceAll('-', '/');
  assert.ok(keys.some((key) => key.startsWith(`objects/core/namespaces/_cluster/payments/${day}/${meta.sessionId}-`)), keys.join('\n'));
  assert.ok(keys.every((key) => /-\d{6}\.jsonl$/.test(key)));
  const entries = await entriesUnder(store, keys);
  assert.equal(entries.length, 21, 'one entry a call on an object, none for /healthz');
  assert.ok(entries.every((entry) => entry.subject === 'ci.bot' && entry.grant === 'kubegate-system/bot-grant' && schemaErrors('object', entry) === null));
  const created = entries.find((entry) => entry.resource === 'namespaces')!;
  assert.equal(created.status, 201, 'the request sealed in one segment, its response in a later one: filed with the later');
  assert.ok(keys.length < entries.length, 'one file per object and segment, not one per call');
  const callKeys = await objectKeys(store, 'calls/');
  assert.ok(callKeys.every((key) => key.startsWith(`calls/${day}/${meta.sessionId}-`)), callKeys.join('\n'));
  const rows = await entriesUnder(store, callKeys);
  assert.deepEqual([rows.length, rows.filter((row) => row.name === '').map((row) => row.verb)], [22, ['list']], 'v6: the calls table has every call on a resource, the list too');
  assert.ok(rows.every((row) => schemaErrors('object', row) === null));
  for (const key of [...keys, ...callKeys]) assert.equal(statSync(join(storeDir, key)).mode & 0o222, 0, `${key} is stored under the segment's retention (read-only in a file store)`);
  await recorder.stop();
});

const recorderModule = fileURLToPath(new URL('../../src/recording/store-recorder.js', import.meta.url));
const fileStoreModule = fileURLToPath(new URL('../../src/recording/file-store.js', import.meta.url));

test('crash recovery files the calls of what it uploads, a call that began before the crash included', async () => {
  const storeDir = temp('store');
  const spoolDir = temp('spool');
  const meta = metadata();
  const script = `
    const { StoreRecorder } = await import(${JSON.stringify(recorderModule)});
    const { FileStore } = await import(${JSON.stringify(fileStoreModule)});
    const recorder = new StoreRecorder({ store: new FileStore(${JSON.stringify(storeDir)}), spoolDir: ${JSON.stringify(spoolDir)}, maxSegmentBytes: 1024, maxSegmentAgeMs: 600000 });
    await recorder.start();
    const session = recorder.open(${JSON.stringify(meta)});
    await session.record(${JSON.stringify(request('del', 'delete', 'pods', { namespace: 'payments', name: 'api-7' }))});
    await session.record({ type: 'decision', requestId: 'del', action: 'Allow', message: 'ok' });
    await session.record({ type: 'request', requestId: 'pad', method: 'GET', path: '/healthz', attributes: { isResourceRequest: false, verb: 'get' }, body: 'x'.repeat(1100), bodyBytes: 1100 });
    await session.record(${JSON.stringify(response('del', 200))});
    await recorder.flush();
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`writer exited ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const store = new FileStore(storeDir);
  assert.deepEqual(await objectKeys(store), [], 'the delete had not ended in a sealed segment before the crash');
  assert.ok(readdirSync(join(spoolDir, meta.sessionId)).length > 0);
  const recorder = new StoreRecorder({ store, spoolDir });
  await recorder.start();
  await recorder.flush();
  const entries = await entriesUnder(store, await objectKeys(store));
  assert.deepEqual(entries.map((entry) => [entry.verb, entry.namespace, entry.name, entry.decision, entry.status]), [['delete', 'payments', 'api-7', 'Allow', 200]]);
  await recorder.stop();
});
