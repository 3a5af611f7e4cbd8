/**
 * The JSON Schemas in schemas/recording/ describe what the gateway's writer really produces, in every
 * version: a recording made by StoreRecorder with every event type (by one writer or two) validates line
 * by line, its manifests and indexes too, and so does the v1 recording; a malformed event is refused with
 * a message that says what is wrong where, and a v2 object that does not name its writer is malformed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import type { RecordedEvent, SegmentManifest, SessionIndex } from '../../src/recording/format.js';
import { objectLines } from '../../src/audit/reader.js';
import { compileSchemas, schemaErrors, schemaFiles, schemaPath } from '../../src/recording/schemas.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { recordSession, v1Recording, v2Recording } from '../harness/recordings.js';

/** Validates every object of a store against its schema; what it saw. */
async function validateStore(store: RecordingStore): Promise<{ types: Set<string>; manifests: SegmentManifest[]; indexes: SessionIndex[]; starts: RecordedEvent[]; objects: number }> {
  const seen = { types: new Set<string>(), manifests: [] as SegmentManifest[], indexes: [] as SessionIndex[], starts: [] as RecordedEvent[], objects: 0 };
  for await (const object of store.list('')) {
    if (object.key.endsWith('.json')) {
      const value = JSON.parse(await text(await store.get(object.key)));
      const kind = object.key.startsWith('index/') ? 'index' : 'manifest';
      assert.equal(schemaErrors(kind, value), null, object.key);
      if (kind === 'index') seen.indexes.push(value);
      else seen.manifests.push(value);
      continue;
    }
    for await (const { line, number } of objectLines(store, object.key)) {
      if (object.key.startsWith('objects/')) {
        assert.equal(schemaErrors('object', JSON.parse(line)), null, `${object.key} line ${number}: ${line}`);
        seen.objects++;
        continue;
      }
      const event = JSON.parse(line) as RecordedEvent;
      assert.equal(schemaErrors('event', event), null, `${object.key} line ${number}: ${line}`);
      seen.types.add(event.type);
      if (event.type === 'session-start') seen.starts.push(event);
    }
  }
  return seen;
}

const everyType = ['decision', 'gap', 'request', 'response', 'session-end', 'session-start', 'stream', 'stream-close', 'stream-open'];

test('a StoreRecorder recording with every event type validates against the schemas', async () => {
  const session = await recordSession();
  const { types, manifests, indexes, objects } = await validateStore(session.store);
  assert.ok(manifests.length >= 4, `several segments, got ${manifests.length}`);
  assert.ok(objects > 0, 'the per-object index (v4) validates too');
  assert.deepEqual([...types].sort(), everyType);
  assert.equal(indexes.length, 1);
});

test('a session of two writers validates: each manifest, index and session-start names its writer', async () => {
  const session = await recordSession({ writers: ['gateway-a', 'gateway-b'] });
  const { types, manifests, indexes, starts } = await validateStore(session.store);
  assert.deepEqual([...types].sort(), everyType);
  assert.deepEqual(indexes.map((index) => [index.v, index.writer]), [[5, 'gateway-a'], [5, 'gateway-b']]);
  assert.deepEqual(starts.map((start) => [start.v, start.type === 'session-start' && start.writer]), [[5, 'gateway-a'], [5, 'gateway-b']]);
  assert.deepEqual([...new Set(manifests.map((manifest) => manifest.writer))], ['gateway-a', 'gateway-b']);
  assert.ok(manifests.every((manifest) => manifest.key.startsWith(`${session.folder}${manifest.writer}/`)));
});

test('the v1 recording validates against the same schemas', async () => {
  const { types, manifests, indexes } = await validateStore(v1Recording().store);
  assert.deepEqual([...types].sort(), everyType);
  assert.equal(manifests.length, 4);
  assert.deepEqual(indexes.map((index) => [index.v, index.writer]), [[1, undefined]]);
});

test('the v2 recording validates against the same schemas', async () => {
  const { types, manifests, indexes } = await validateStore(v2Recording().store);
  assert.deepEqual([...types].sort(), everyType);
  assert.equal(manifests.length, 6);
  assert.deepEqual(indexes.map((index) => [index.v, index.writer]), [[2, 'gateway-0']]);
});

test('a v3 line may hold a base64 body and a response content type; a v1 or v2 line may not', () => {
  const bytes = Buffer.from([0x6b, 0x38, 0x73, 0x00, 0xff, 0x0a]);
  const response = { v: 3, seq: 4, time: '2025-03-01T09:00:00.000Z', type: 'response', requestId: 'r1', status: 200, contentType: 'application/vnd.kubernetes.protobuf', body: bytes.toString('base64'), bodyEncoding: 'base64', bodyBytes: 6, durationMs: 3 };
  assert.equal(schemaErrors('event', response), null);
  const request = { v: 3, seq: 1, time: response.time, type: 'request', requestId: 'r1', method: 'POST', path: '/api/v1/namespaces/a/configmaps', attributes: { verb: 'create' }, contentType: 'application/cbor', body: 'oQ==', bodyEncoding: 'base64', bodyBytes: 1 };
  assert.equal(schemaErrors('event', request), null);
  assert.equal(schemaErrors('event', { ...response, body: 'not base64!' }), '/body must match pattern "^[A-Za-z0-9+/]*={0,2}$"');
  assert.equal(schemaErrors('event', { ...response, bodyEncoding: 'hex' }), '/bodyEncoding must be equal to constant');
  assert.equal(schemaErrors('event', { ...response, body: undefined }), "(the object) must have required property 'body'");
  for (const v of [1, 2]) {
    assert.equal(schemaErrors('event', { ...response, v }), '(the object) must NOT be valid', `v${v}: no bodyEncoding, no response contentType`);
    assert.equal(schemaErrors('event', { ...request, v }), '(the object) must NOT be valid');
    assert.equal(schemaErrors('event', { ...request, v, body: '{}', bodyEncoding: undefined }), null, `v${v}: a text body and a request contentType as before`);
  }
});

test('a malformed event is refused with the field and the reason', () => {
  const response = { v: 1, seq: 4, time: '2025-03-01T09:00:00.000Z', type: 'response', requestId: 'r1', status: 200, bodyBytes: 2, durationMs: 3 };
  assert.equal(schemaErrors('event', response), null);
  assert.equal(schemaErrors('event', { ...response, status: '200' }), '/status must be integer');
  assert.equal(schemaErrors('event', { ...response, requestId: undefined }), "(the object) must have required property 'requestId'");
  assert.equal(schemaErrors('event', { ...response, secret: 'x' }), '(the object) has an unknown property "secret"');
  assert.match(schemaErrors('event', { ...response, type: 'telemetry' })!, /^\/type must be one of "session-start", "request"/);
  assert.equal(schemaErrors('event', { ...response, type: 'stream', direction: 'sideways', channel: 'stdout', data: 'aGk=' }), '/direction must be one of "client-to-server", "server-to-client"');
  assert.equal(schemaErrors('event', { ...response, seq: -1 }), '/seq must be >= 0');
  const request = { v: 2, seq: 1, time: response.time, type: 'request', requestId: 'r1', method: 'PATCH', path: '/api/v1/namespaces/a/pods/b', attributes: { verb: 'patch' } };
  assert.equal(schemaErrors('event', { ...request, contentType: 'application/merge-patch+json' }), null);
  assert.equal(schemaErrors('event', { ...request, contentType: 7 }), '/contentType must be string');
  const start = { v: 2, seq: 0, time: response.time, type: 'session-start', sessionId: 's', tokenId: 't', subject: { kind: 'User', name: 'u' }, grant: { namespace: 'g', name: 'g', uid: 'u' }, policy: { namespace: 'p', name: 'p', version: '1' }, client: {}, startedAt: response.time };
  assert.equal(schemaErrors('event', { ...start, writer: 'gateway-a' }), null);
  assert.equal(schemaErrors('event', start), "(the object) must have required property 'writer'", 'a v2 chain starts by naming its writer');
  assert.equal(schemaErrors('event', { ...start, v: 1 }), null);
});

test('a manifest with a malformed hash is refused', () => {
  const manifest = {
    v: 1, sessionId: 's', index: 1, key: 'sessions/2025/03/01/bot/s/segment-000001.jsonl', firstSeq: 10, lastSeq: 19, events: 10, bytes: 999,
    sha256: 'a'.repeat(64), previousSegmentSha256: 'b'.repeat(64), previousManifestSha256: 'c'.repeat(64),
    openedAt: '2025-03-01T09:00:00Z', sealedAt: '2025-03-01T09:00:05Z', final: false,
  };
  assert.equal(schemaErrors('manifest', manifest), null);
  assert.equal(schemaErrors('manifest', { ...manifest, sha256: 'A'.repeat(64) }), '/sha256 must match pattern "^[0-9a-f]{64}$"');
  assert.equal(schemaErrors('manifest', { ...manifest, v: 2 }), "(the object) must have required property 'writer'");
  assert.equal(schemaErrors('manifest', { ...manifest, v: 2, writer: 'gateway-a' }), null);
  assert.equal(schemaErrors('manifest', { ...manifest, v: 3, writer: 'gateway-a' }), null);
  assert.equal(schemaErrors('manifest', { ...manifest, v: 5, writer: 'gateway-a' }), null);
  assert.equal(schemaErrors('manifest', { ...manifest, v: 6, writer: 'gateway-a' }), '/v must be one of 1, 2, 3, 4, 5');
  const signature = { keyId: 'r-1', algorithm: 'Ed25519', value: `${'A'.repeat(86)}==` };
  assert.equal(schemaErrors('manifest', { ...manifest, v: 5, writer: 'gateway-a', signature }), null);
  assert.equal(schemaErrors('manifest', { ...manifest, v: 4, writer: 'gateway-a', signature }), "(the object) must NOT be valid", 'a signature is a v5 field');
  assert.match(schemaErrors('manifest', { ...manifest, previousManifestSha256: 'short' })!, /^\/previousManifestSha256 /);
});

test('the schemas compile without a strict-mode warning (verify prints them on stderr)', (t) => {
  const warn = t.mock.method(console, 'warn', () => undefined);
  compileSchemas();
  assert.deepEqual(warn.mock.calls.map((call) => call.arguments.join(' ')), []);
});

test('every schema file is a draft 2020-12 schema with its own $id', () => {
  for (const name of Object.keys(schemaFiles) as (keyof typeof schemaFiles)[]) {
    const schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as { $schema: string; $id: string };
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(schema.$id.endsWith(schemaFiles[name]));
  }
});
