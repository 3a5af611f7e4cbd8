/**
 * The session page's bodies (src/console/bodies.ts): a text body rides on its API call's timeline entry
 * as recorded, cut at 64 KiB on a character boundary and flagged, the answer's total kept under its
 * budget; a binary body stays the timeline's size and type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inlineBodyBytes, inlineBudgetBytes, TimelineBodies } from '../../src/console/bodies.js';
import { Timeline } from '../../src/audit/timeline.js';
import type { SessionEvent } from '../../src/audit/reader.js';

const time = '2025-03-01T09:00:00.000Z';
const request = (requestId: string, body?: string): SessionEvent => ({ v: 3, seq: 0, time, type: 'request', requestId, method: 'POST', path: '/api/v1/namespaces/a/configmaps', attributes: { verb: 'create', resource: 'configmaps', namespace: 'a' }, contentType: 'application/json', ...(body !== undefined ? { body } : {}) });
const response = (requestId: string, body: string, extra: object = {}): SessionEvent => ({ v: 3, seq: 1, time, type: 'response', requestId, status: 201, contentType: 'application/json', body, bodyBytes: Buffer.byteLength(body), durationMs: 3, ...extra });

function shown(events: SessionEvent[]) {
  const timeline = new Timeline();
  const bodies = new TimelineBodies();
  return events.flatMap((event) => {
    bodies.push(event);
    return timeline.push(event).map((entry) => bodies.attach(entry));
  });
}

test('a call carries its request and response text as recorded, with size and type', () => {
  const [entry] = shown([request('r1', '{"data":{"k":"***"}}'), response('r1', '{"kind":"ConfigMap"}')]);
  assert.deepEqual(entry && entry.kind === 'api' && [entry.requestBody, entry.responseBody], [
    { text: '{"data":{"k":"***"}}', bytes: 20, contentType: 'application/json' },
    { text: '{"kind":"ConfigMap"}', bytes: 20, contentType: 'application/json' },
  ]);
});

test('a body over 64 KiB is cut on a character boundary and flagged; one the gateway cut keeps its full size', () => {
  const big = `${'a'.repeat(inlineBodyBytes - 1)}é and more`;
  const [entry] = shown([request('r1', big), response('r1', 'x', { bodyTruncated: true, bodyBytes: 9000 })]);
  assert.ok(entry?.kind === 'api');
  const body = entry.requestBody as { text: string; bytes: number; cut?: true };
  assert.equal(body.text, 'a'.repeat(inlineBodyBytes - 1), 'the two bytes of é do not fit: it is left out whole');
  assert.deepEqual({ bytes: body.bytes, cut: body.cut }, { bytes: Buffer.byteLength(big), cut: true });
  assert.deepEqual(entry.responseBody, { text: 'x', bytes: 1, totalBytes: 9000, contentType: 'application/json' });
});

test('past the answer\'s budget a body comes without its text, flagged cut; a binary body stays size and type', () => {
  const body = 'b'.repeat(inlineBodyBytes);
  const calls = inlineBudgetBytes / inlineBodyBytes;
  const events = Array.from({ length: calls + 1 }, (_, i) => [request(`r${i}`), response(`r${i}`, body)]).flat();
  const entries = shown(events);
  const last = entries.at(-1)!;
  assert.ok(last.kind === 'api');
  assert.deepEqual(last.responseBody, { text: '', bytes: inlineBodyBytes, contentType: 'application/json', cut: true });
  assert.ok(entries.slice(0, calls).every((entry) => entry.kind === 'api' && (entry.responseBody as { cut?: true }).cut === undefined));
  const [binary] = shown([request('p'), response('p', Buffer.from([1, 2, 3]).toString('base64'), { bodyEncoding: 'base64', contentType: 'application/vnd.kubernetes.protobuf', bodyBytes: 3 })]);
  assert.deepEqual(binary?.kind === 'api' && binary.responseBody, { bytes: 3, contentType: 'application/vnd.kubernetes.protobuf' });
});
