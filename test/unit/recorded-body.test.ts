/**
 * What the recording keeps of a body: text where it is text, else base64 of exactly its bytes (format
 * v3) — never lossy UTF-8 — and, for a request, nothing raw where the policy masks anything it could hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTextContentType, recordedBody } from '../../src/util/recorded-body.js';
import { recordedRequestBody } from '../../src/policy/masking/bodies.js';
import { Masker } from '../../src/policy/masking/masker.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';

/** A Kubernetes protobuf body as the API server writes one: the magic, then bytes that are not UTF-8. */
const protobuf = Buffer.concat([Buffer.from('k8s\0'), Buffer.from([0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0x01, 0x9a])]);

test('text types in UTF-8 are text; protobuf, CBOR, octet-stream and other charsets are not', () => {
  for (const type of [undefined, '', 'application/json', 'application/json;stream=watch', 'application/json; charset=utf-8', 'application/merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'application/yaml', 'text/plain', 'text/plain; charset="UTF-8"']) {
    assert.equal(isTextContentType(type), true, String(type));
  }
  for (const type of ['application/vnd.kubernetes.protobuf', 'application/vnd.kubernetes.protobuf;stream=watch', 'application/cbor', 'application/octet-stream', 'text/plain; charset=iso-8859-1', 'image/png']) {
    assert.equal(isTextContentType(type), false, type);
  }
});

test('a binary body is recorded as base64 of exactly its bytes; text as text', () => {
  const binary = recordedBody(protobuf, protobuf.length, 'application/vnd.kubernetes.protobuf');
  assert.deepEqual(binary, { body: protobuf.toString('base64'), bodyEncoding: 'base64', bodyBytes: protobuf.length });
  assert.ok(Buffer.from(binary.body, 'base64').equals(protobuf));
  assert.equal(recordedBody(Buffer.from('plain ascii'), 11, 'application/octet-stream').bodyEncoding, 'base64', 'the type says bytes: kept as bytes');
  assert.deepEqual(recordedBody(Buffer.from('{"a":"é"}'), 10, 'application/json'), { body: '{"a":"é"}', bodyBytes: 10 });
});

test('a body whose type says text but whose bytes are not UTF-8 is base64, not lossy', () => {
  const bytes = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"\xff"}
  const recorded = recordedBody(bytes, bytes.length, 'application/json');
  assert.equal(recorded.bodyEncoding, 'base64');
  assert.ok(Buffer.from(recorded.body, 'base64').equals(bytes));
});

test('a text body cut at the cap mid-character keeps the whole characters, marked truncated', () => {
  const bytes = Buffer.from('{"name":"café"}');
  const cut = bytes.indexOf(Buffer.from('é')) + 1; // inside é
  assert.deepEqual(recordedBody(bytes.subarray(0, cut), bytes.length, 'application/json'), { body: '{"name":"caf', bodyBytes: bytes.length, bodyTruncated: true });
  const binary = recordedBody(protobuf.subarray(0, 7), protobuf.length, 'application/cbor');
  assert.deepEqual(binary, { body: protobuf.subarray(0, 7).toString('base64'), bodyEncoding: 'base64', bodyBytes: protobuf.length, bodyTruncated: true });
});

test('invariant 9: a request body the masker cannot read is base64 where nothing is masked, not recorded where masking applies', () => {
  const attributes = parseRequestAttributes('POST', '/api/v1/namespaces/a/configmaps');
  const request = { bytes: protobuf, parsed: undefined, contentType: 'application/vnd.kubernetes.protobuf', binary: true };
  const open = recordedRequestBody(Masker.compile({ secrets: false, fields: [], patterns: [] }), attributes, request, 1 << 20);
  assert.deepEqual(open, { body: protobuf.toString('base64'), bodyEncoding: 'base64', bodyBytes: protobuf.length });
  const masked = recordedRequestBody(Masker.compile({ secrets: true, fields: [], patterns: ['AKIA[0-9A-Z]{16}'] }), attributes, request, 1 << 20);
  assert.deepEqual(masked, { body: `[not recorded: a ${protobuf.length}-byte binary body that could not be read]`, bodyBytes: protobuf.length });
  const octets = recordedRequestBody(Masker.compile({ secrets: false, fields: [], patterns: [] }), attributes, { bytes: protobuf, parsed: undefined, contentType: 'application/octet-stream' }, 8);
  assert.deepEqual(octets, { body: protobuf.subarray(0, 8).toString('base64'), bodyEncoding: 'base64', bodyBytes: protobuf.length, bodyTruncated: true });
  const decoded = recordedRequestBody(Masker.compile({ secrets: false, fields: [], patterns: [] }), attributes, { ...request, parsed: { kind: 'ConfigMap' } }, 1 << 20);
  assert.deepEqual(decoded, { body: '{"kind":"ConfigMap"}', bodyBytes: protobuf.length }, 'a protobuf body that was read is kept as the JSON it means');
});
