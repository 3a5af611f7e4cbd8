/**
 * The selection language shared by the audit commands (src/audit/selection.ts) and `history`'s object
 * lookup (src/audit/history.ts) over a file:// store written by the real recorder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { callMatches, SelectedCalls, selectionFrom, sessionMayMatch, type Selection } from '../../src/audit/selection.js';
import { objectHistory, objectRef } from '../../src/audit/history.js';
import type { ObjectIndexEntry } from '../../src/recording/object-index.js';
import type { RecordEvent, SessionIndex, SessionMetadata } from '../../src/recording/format.js';
import { FileStore } from '../../src/recording/file-store.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { SessionEvent } from '../../src/audit/reader.js';

const call: ObjectIndexEntry = {
  v: 4, time: '2026-03-01T10:00:00.000Z', session: 's', writer: 'w', seq: 4, requestId: 'r', verb: 'delete', group: '', resource: 'pods', subresource: '',
  namespace: 'payments', name: 'api-7', subject: 'ci.bot', grant: 'kubegate-system/bot-grant', rule: 'deletes-need-a-human', approval: 'a-1', decision: 'RequireApproval', status: 200,
};

test('a call matches every criterion given, as kubectl and the policy name things', () => {
  const yes: Selection[] = [
    {}, { subject: 'ci/bot' }, { subject: 'ci.bot' }, { grant: 'bot-grant' }, { grant: 'kubegate-system/bot-grant' }, { namespace: 'payments' },
    { verb: 'DELETE' }, { resource: 'po' }, { resource: 'pod' }, { name: 'api-7' }, { decision: 'requireapproval' }, { rule: 'deletes-need-a-human' },
    { verb: 'delete', resource: 'pods', name: 'api-7', namespace: 'payments' },
  ];
  for (const selection of yes) assert.ok(callMatches(call, selection), JSON.stringify(selection));
  const no: Selection[] = [
    { subject: 'bot2' }, { grant: 'other' }, { namespace: 'web' }, { verb: 'get' }, { resource: 'deploy' }, { resource: 'pods/exec' }, { name: 'api-8' },
    { decision: 'Allow' }, { rule: 'other' }, { exitCode: 0 }, { verb: 'delete', name: 'api-8' },
  ];
  for (const selection of no) assert.ok(!callMatches(call, selection), JSON.stringify(selection));
  const exec = { ...call, verb: 'create', subresource: 'exec', exitCode: 3 };
  assert.ok(callMatches(exec, { resource: 'pods/exec', exitCode: 3 }));
  assert.ok(!callMatches(exec, { exitCode: 0 }));
  assert.ok(callMatches({ ...call, resource: 'namespaces', namespace: '', name: 'payments' }, { namespace: 'payments' }), 'a namespace is in itself');
});

test('flags: --exit-code must be a number; unset flags select nothing', () => {
  assert.deepEqual(selectionFrom({ verb: 'get', exitCode: '2' }), { verb: 'get', exitCode: 2 });
  assert.deepEqual(selectionFrom({}), {});
  assert.throws(() => selectionFrom({ exitCode: 'two' }), /--exit-code must be a number ≥ 0, got "two"/);
});

const index = {
  v: 4, sessionId: 's', subject: { kind: 'ServiceAccount', name: 'bot', namespace: 'ci' }, grant: { namespace: 'kubegate-system', name: 'bot-grant', uid: 'u' },
  namespaces: ['payments'], verbs: ['delete', 'get'], resources: ['pods'], decisions: ['Allow', 'RequireApproval'],
} as unknown as SessionIndex;

test("a session's index rules it out only on what it holds; a name, rule or exit code need its calls", () => {
  assert.ok(sessionMayMatch(index, { subject: 'ci/bot', verb: 'delete', resource: 'po', decision: 'allow' }));
  assert.ok(sessionMayMatch(index, { name: 'anything', rule: 'x', exitCode: 1 }));
  for (const selection of [{ subject: 'bot2' }, { namespace: 'web' }, { verb: 'patch' }, { resource: 'deployments' }, { decision: 'Deny' }]) assert.ok(!sessionMayMatch(index, selection), JSON.stringify(selection));
});

let seq = 0;
const event = (body: RecordEvent): SessionEvent => ({ v: 4, seq: seq++, time: '2026-03-01T10:00:00.000Z', ...body }) as SessionEvent;
const createNamespace: RecordEvent[] = [
  { type: 'request', requestId: 'c', method: 'POST', path: '/api/v1/namespaces', attributes: { isResourceRequest: true, verb: 'create', resource: 'namespaces', namespace: '', name: '', subresource: '' }, body: '{"metadata":{"name":"payments"}}', bodyBytes: 32 },
  { type: 'decision', requestId: 'c', action: 'Allow', message: 'ok' },
  { type: 'response', requestId: 'c', status: 201, bodyBytes: 0, durationMs: 1 },
];

test('search matches in a call wait for the call to end and show only when it is selected', () => {
  const byName = new SelectedCalls<string>({ name: 'payments' }, index);
  assert.deepEqual(byName.hold(event(createNamespace[0]!), ['found in the request']), [], 'held until the call ends');
  assert.deepEqual(byName.hold(event(createNamespace[1]!), []), []);
  assert.deepEqual(byName.hold(event(createNamespace[2]!), []), ['found in the request'], 'the create is found by the name in its body');
  assert.equal(byName.matched, 1);
  const other = new SelectedCalls<string>({ name: 'web' }, index);
  for (const body of createNamespace) other.hold(event(body), ['x']);
  assert.deepEqual(other.end(), []);
  assert.equal(other.matched, 0);
  const none = new SelectedCalls<string>({}, index);
  assert.deepEqual(none.hold(event(createNamespace[0]!), ['at once']), ['at once'], 'without call criteria nothing is held');
});

test('objects as kubectl names them: short names, singulars, groups, cluster scope', () => {
  assert.deepEqual(objectRef('pods/api-7', 'payments'), { group: '', resource: 'pods', namespace: 'payments', name: 'api-7', namespaced: true });
  assert.deepEqual(objectRef('po/api-7', undefined), { group: '', resource: 'pods', namespace: 'default', name: 'api-7', namespaced: true });
  assert.equal(objectRef('deploy/api', 'web').group, 'apps');
  assert.equal(objectRef('deployment.apps/api', 'web').resource, 'deployments');
  assert.deepEqual(objectRef('ns/payments', undefined), { group: '', resource: 'namespaces', namespace: '', name: 'payments', namespaced: false });
  assert.equal(objectRef('configmap/settings', 'web').resource, 'configmaps');
  assert.deepEqual(objectRef('widgets.example.com/w1', 'a'), { group: 'example.com', resource: 'widgets', namespace: 'a', name: 'w1', namespaced: true });
  assert.throws(() => objectRef('widgets/w1', 'a'), /not a built-in resource: give it as RESOURCE.GROUP\/NAME/);
  assert.throws(() => objectRef('pods', 'a'), /RESOURCE\/NAME/);
  assert.throws(() => objectRef('namespaces/x', 'x'), /cluster-scoped: drop -n/);
});

function metadata(name: string, startedAt: Date): SessionMetadata {
  return {
    sessionId: randomUUID(), tokenId: 't', subject: { kind: 'User', name }, grant: { namespace: 'kubegate-system', name: `${name}-grant`, uid: 'u' },
    policy: { namespace: 'kubegate-system', name: 'prod', version: '1' }, client: {}, startedAt: startedAt.toISOString(),
  };
}

function podCall(requestId: string, verb: string, namespace: string, name: string): RecordEvent[] {
  const attributes = { isResourceRequest: true, verb, resource: 'pods', namespace, name, subresource: '', apiGroup: '' };
  return [
    { type: 'request', requestId, method: verb.toUpperCase(), path: `/api/v1/namespaces/${namespace}/pods/${name}`, attributes },
    { type: 'decision', requestId, action: 'Allow', message: 'ok' },
    { type: 'response', requestId, status: 200, bodyBytes: 0, durationMs: 1 },
  ];
}

test('history: the calls on one object across sessions, oldest first, within the range; every namespace with --all-namespaces', async () => {
  const store = new FileStore(mkdtempSync(join(tmpdir(), 'kubegate-history-')));
  let now = Date.parse('2026-03-01T10:00:00.000Z');
  const recorder = new StoreRecorder({ store, spoolDir: mkdtempSync(join(tmpdir(), 'kubegate-spool-')), clock: { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined } });
  await recorder.start();
  const record = async (subject: string, events: RecordEvent[]) => {
    const session = recorder.open(metadata(subject, new Date(now)));
    for (const body of events) {
      now += 1000;
      await session.record(body);
    }
    await session.close('idle');
  };
  await record('alice', [...podCall('a1', 'get', 'payments', 'api-7'), ...podCall('a2', 'get', 'web', 'api-7')]);
  now += 86_400_000; // the next day
  await record('bob', [...podCall('b1', 'delete', 'payments', 'api-7'), ...podCall('b2', 'delete', 'payments', 'api-8')]);
  await recorder.flush();
  const all = { from: new Date(0), to: new Date(now) };
  const history = (ref: string, namespace: string | undefined, extra: { allNamespaces?: boolean; selection?: Selection; range?: typeof all } = {}) =>
    objectHistory(store, { ref: objectRef(ref, namespace), allNamespaces: extra.allNamespaces ?? false, range: extra.range ?? all, selection: extra.selection ?? {} });
  assert.deepEqual((await history('pods/api-7', 'payments')).map((entry) => [entry.subject, entry.verb]), [['alice', 'get'], ['bob', 'delete']]);
  assert.deepEqual((await history('po/api-7', undefined, { allNamespaces: true })).map((entry) => `${entry.namespace}/${entry.verb}`), ['payments/get', 'web/get', 'payments/delete']);
  assert.deepEqual((await history('pods/api-7', 'payments', { selection: { verb: 'delete' } })).map((entry) => entry.subject), ['bob']);
  const secondDay = { from: new Date(Date.parse('2026-03-02T00:00:00Z')), to: new Date(now) };
  assert.deepEqual((await history('pods/api-7', 'payments', { range: secondDay })).map((entry) => entry.subject), ['bob'], 'only the days of the range are read');
  assert.deepEqual(await history('pods/api-9', 'payments'), []);
  await recorder.stop();
});
