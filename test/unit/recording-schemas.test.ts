/**
 * The JSON Schemas in schemas/recording/ describe what the gateway's writer really produces: a recording
 * made by StoreRecorder with every event type validates line by line, its manifests and index too; and a
 * malformed event is refused with a message that says what is wrong where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import type { RecordedEvent } from '../../src/recording/format.js';
import { objectLines } from '../../src/audit/reader.js';
import { schemaErrors, schemaFiles, schemaPath } from '../../src/recording/schemas.js';
import { recordSession } from '../harness/recordings.js';

test('a StoreRecorder recording with every event type validates against the schemas', async () => {
  const session = await recordSession();
  const types = new Set<string>();
  let manifests = 0;
  for await (const object of session.store.list(session.prefix)) {
    if (object.key.endsWith('.manifest.json')) {
      manifests++;
      assert.equal(schemaErrors('manifest', JSON.parse(await text(await session.store.get(object.key)))), null, object.key);
      continue;
    }
    for await (const { line, number } of objectLines(session.store, object.key)) {
      const event = JSON.parse(line) as RecordedEvent;
      assert.equal(schemaErrors('event', event), null, `${object.key} line ${number}: ${line}`);
      types.add(event.type);
    }
  }
  assert.ok(manifests >= 4, `several segments, got ${manifests}`);
  assert.deepEqual([...types].sort(), ['decision', 'gap', 'request', 'response', 'session-end', 'session-start', 'stream', 'stream-close', 'stream-open']);
  assert.equal(schemaErrors('index', JSON.parse(await text(await session.store.get(session.indexKey)))), null);
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
});

test('a manifest with a malformed hash is refused', () => {
  const manifest = {
    v: 1, sessionId: 's', index: 1, key: 'sessions/2025/03/01/bot/s/segment-000001.jsonl', firstSeq: 10, lastSeq: 19, events: 10, bytes: 999,
    sha256: 'a'.repeat(64), previousSegmentSha256: 'b'.repeat(64), previousManifestSha256: 'c'.repeat(64),
    openedAt: '2025-03-01T09:00:00Z', sealedAt: '2025-03-01T09:00:05Z', final: false,
  };
  assert.equal(schemaErrors('manifest', manifest), null);
  assert.equal(schemaErrors('manifest', { ...manifest, sha256: 'A'.repeat(64) }), '/sha256 must match pattern "^[0-9a-f]{64}$"');
  assert.match(schemaErrors('manifest', { ...manifest, previousManifestSha256: 'short' })!, /^\/previousManifestSha256 /);
});

test('every schema file is a draft 2020-12 schema with its own $id', () => {
  for (const name of Object.keys(schemaFiles) as (keyof typeof schemaFiles)[]) {
    const schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as { $schema: string; $id: string };
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(schema.$id.endsWith(schemaFiles[name]));
  }
});
