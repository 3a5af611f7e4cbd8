/** `kubegate replay`'s pure parts: the calls of a recording and their order, prior state, the diff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeCalls, sessionCalls, callKind, type RecordedCall } from '../../src/audit/replay/calls.js';
import { diffObjects, renderDifference } from '../../src/audit/replay/diff.js';
import { notReproducible } from '../../src/audit/replay/engine.js';
import { objectsRead } from '../../src/audit/replay/objects.js';
import { priorState } from '../../src/audit/replay/prior-state.js';
import type { SessionEvent } from '../../src/audit/reader.js';

function call(sessionId: string, seq: number, time: string, fields: Partial<RecordedCall> = {}): RecordedCall {
  return { sessionId, seq, time, requestId: `${sessionId}-${seq}`, method: 'GET', path: '/api/v1/namespaces/a/pods', attributes: { verb: 'list', resource: 'pods', namespace: 'a' }, ...fields };
}

async function* events(list: object[]): AsyncGenerator<SessionEvent> {
  for (const event of list) yield event as SessionEvent;
}

test('a session\'s events become calls: each request with its decision, response and stream, by request id', async () => {
  const calls = await sessionCalls('s1', events([
    { v: 3, seq: 0, time: 't0', type: 'session-start' },
    { v: 3, seq: 1, time: 't1', type: 'request', requestId: 'r1', method: 'POST', path: '/api/v1/namespaces/a/configmaps', attributes: { verb: 'create' }, contentType: 'application/json', body: '{"a":1}', bodyBytes: 7 },
    { v: 3, seq: 2, time: 't1', type: 'request', requestId: 'r2', method: 'POST', path: '/api/v1/namespaces/a/pods/p/exec', attributes: { verb: 'create', subresource: 'exec' } },
    { v: 3, seq: 3, time: 't2', type: 'decision', requestId: 'r1', action: 'Allow', message: '' },
    { v: 3, seq: 4, time: 't2', type: 'stream-open', requestId: 'r2', protocol: 'v5.channel.k8s.io', command: ['sh'] },
    { v: 3, seq: 5, time: 't3', type: 'response', requestId: 'r1', status: 201, body: '{"b":2}', bodyBytes: 7, bodyTruncated: true, durationMs: 3 },
  ]));
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[0]!.request, { text: '{"a":1}', contentType: 'application/json', truncated: false });
  assert.deepEqual(calls[0]!.decision, { action: 'Allow' });
  assert.deepEqual(calls[0]!.response, { text: '{"b":2}', truncated: true, status: 201 });
  assert.deepEqual(calls[1]!.stream, { protocol: 'v5.channel.k8s.io', command: ['sh'] });
  assert.equal(callKind(calls[0]!), 'mutation');
  assert.equal(callKind(calls[1]!), 'stream');
});

test('several sessions\' calls merge by recorded time; at equal times the earlier-named session first; each session keeps its order', () => {
  const a = [call('a', 1, '2026-01-01T00:00:01.000Z'), call('a', 2, '2026-01-01T00:00:03.000Z'), call('a', 3, '2026-01-01T00:00:03.000Z')];
  const b = [call('b', 1, '2026-01-01T00:00:02.000Z'), call('b', 2, '2026-01-01T00:00:03.000Z'), call('b', 3, '2026-01-01T00:00:04.000Z')];
  assert.deepEqual(mergeCalls([a, b]).map((c) => `${c.sessionId}${c.seq}`), ['a1', 'b1', 'a2', 'a3', 'b2', 'b3']);
  assert.deepEqual(mergeCalls([b, a]).map((c) => `${c.sessionId}${c.seq}`), ['a1', 'b1', 'b2', 'a2', 'a3', 'b3']);
  assert.deepEqual(mergeCalls([[], a]).map((c) => c.seq), [1, 2, 3]);
});

test('the diff ignores server-set fields and controller status, and names every other difference by path', () => {
  const recorded = {
    kind: 'Deployment',
    metadata: { name: 'web', uid: 'u1', resourceVersion: '7', creationTimestamp: 'x', generation: 3, managedFields: [{}], labels: { team: 'a' }, annotations: { 'deployment.kubernetes.io/revision': '2' }, ownerReferences: [{ name: 'o', uid: 'u9' }] },
    spec: { replicas: 3, template: { spec: { volumes: [{ name: 'kube-api-access-ab12c' }] } } },
    status: { replicas: 1 },
  };
  const replayed = {
    kind: 'Deployment',
    metadata: { name: 'web', uid: 'u2', resourceVersion: '99', creationTimestamp: 'y', generation: 5, labels: { team: 'b', extra: 'x' }, annotations: { 'deployment.kubernetes.io/revision': '4' }, ownerReferences: [{ name: 'o', uid: 'u8' }] },
    spec: { replicas: 2, template: { spec: { volumes: [{ name: 'kube-api-access-zz99q' }] } } },
    status: { replicas: 3 },
  };
  const differences = diffObjects(recorded, replayed);
  assert.deepEqual(differences, [
    { path: 'metadata.labels.extra', replayed: 'x' },
    { path: 'metadata.labels.team', recorded: 'a', replayed: 'b' },
    { path: 'spec.replicas', recorded: 3, replayed: 2 },
  ]);
  assert.equal(renderDifference(differences[0]!), 'metadata.labels.extra: recorded (absent), replayed "x"');
  assert.deepEqual(diffObjects({ status: { phase: 'A' } }, { status: { phase: 'B' } }, { keepStatus: true }), [{ path: 'status.phase', recorded: 'A', replayed: 'B' }]);
  assert.deepEqual(diffObjects({ metadata: { name: 'web-1' } }, { metadata: { name: 'web-2' } }, { controllerMade: true }), []);
  assert.deepEqual(diffObjects({ a: [1, 2] }, { a: [1] }), [{ path: 'a.1', recorded: 2 }]);
  assert.deepEqual(diffObjects({ metadata: { labels: { a: 'x', b: 'y' } } }, { metadata: {} }), [{ path: 'metadata.labels.a', recorded: 'x' }, { path: 'metadata.labels.b', recorded: 'y' }], 'a map one side lacks is named leaf by leaf');
  assert.deepEqual(diffObjects({}, { metadata: { uid: 'u', labels: {} } }), [{ path: 'metadata.labels', replayed: {} }]);
  assert.deepEqual(diffObjects({ metadata: { annotations: { 'deployment.kubernetes.io/revision': '1' } } }, { metadata: {} }), [], 'a revision the controller had not written yet');
  assert.deepEqual(diffObjects(recorded, structuredClone(recorded)), []);
});

test('a masked or truncated request body is not reproducible, and says why; a refused call was never sent', () => {
  const mutation = (request: RecordedCall['request'], decision = 'Allow') => call('s', 1, 't', { method: 'POST', attributes: { verb: 'create', resource: 'secrets' }, request, decision: { action: decision }, response: { status: 201, text: '{}', truncated: false } });
  assert.equal(notReproducible(mutation({ text: '{"data":{"a":"*****"}}', truncated: false })), 'not reproducible: the recorded request body was masked');
  assert.equal(notReproducible(mutation({ text: '{"data":{"password":"KioqKio="}}', truncated: false })), 'not reproducible: the recorded request body was masked', 'Secret data keeps its base64 shape');
  assert.equal(notReproducible(mutation({ text: '[not recorded: a 12-byte body that is not JSON cannot be masked]', truncated: false })), 'not reproducible: the recorded request body was masked');
  assert.equal(notReproducible(mutation({ text: '{"data":', truncated: true })), 'not reproducible: the recorded request body was truncated (maxBodyBytes)');
  assert.equal(notReproducible(mutation({ text: '{}', truncated: false }, 'Deny')), 'not sent in the recording (decision Deny)');
  assert.equal(notReproducible(mutation({ text: '{"data":{"a":"b"}}', truncated: false })), undefined);
});

test('prior state: objects read before they were changed (not those the session made, nor a controller\'s), and namespaces the session did not create', () => {
  const list = { kind: 'ConfigMapList', apiVersion: 'v1', items: [{ metadata: { name: 'old', namespace: 'a' } }, { metadata: { name: 'fresh', namespace: 'a' } }] };
  const pods = { kind: 'PodList', apiVersion: 'v1', items: [{ metadata: { name: 'web-x', namespace: 'a', ownerReferences: [{ kind: 'ReplicaSet', name: 'web-1', controller: true }] } }] };
  const calls = [
    call('s', 1, 't1', { path: '/api/v1/configmaps', attributes: { verb: 'list', resource: 'configmaps' }, response: { status: 200, text: JSON.stringify(list), truncated: false } }),
    call('s', 2, 't2', { response: { status: 200, text: JSON.stringify(pods), truncated: false } }),
    call('s', 3, 't3', { method: 'POST', path: '/api/v1/namespaces/a/configmaps', attributes: { verb: 'create', resource: 'configmaps', namespace: 'a' }, response: { status: 201, text: '{"kind":"ConfigMap","metadata":{"name":"fresh"}}', truncated: false } }),
    call('s', 4, 't4', { method: 'DELETE', path: '/api/v1/namespaces/a/configmaps/fresh', attributes: { verb: 'delete', resource: 'configmaps', namespace: 'a', name: 'fresh' } }),
    call('s', 5, 't5', { method: 'PATCH', path: '/api/v1/namespaces/a/configmaps/old', attributes: { verb: 'patch', resource: 'configmaps', namespace: 'a', name: 'old' } }),
    call('s', 6, 't6', { method: 'DELETE', path: '/api/v1/namespaces/a/pods/web-x', attributes: { verb: 'delete', resource: 'pods', namespace: 'a', name: 'web-x' } }),
  ];
  assert.deepEqual(objectsRead(calls[0]!).get('/api/v1/namespaces/a/configmaps/old'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: 'a' } });
  const prior = priorState(calls);
  assert.deepEqual([...prior.objects.keys()], ['/api/v1/namespaces/a/configmaps/old']);
  assert.deepEqual([...prior.namespaces.keys()], ['a']);
});
