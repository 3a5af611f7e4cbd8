/**
 * readObject reads a request body the way the API server would, by Content-Type, or not at all: YAML as
 * sigs.k8s.io/yaml reads it (YAML 1.1), and nothing where YAML 1.1 and 1.2 read it differently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readObject } from '../../src/gateway/request-body.js';

const yaml = (text: string) => readObject('application/yaml', Buffer.from(text));

test('JSON is read for the JSON and patch types, and when no type is given (the API server takes JSON then)', () => {
  for (const type of [undefined, '', 'application/json', 'Application/JSON; charset=utf-8', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json']) {
    assert.deepEqual(readObject(type, Buffer.from('{"spec":{"hostPID":true}}')), { spec: { hostPID: true } }, String(type));
  }
  assert.deepEqual(readObject('application/json-patch+json', Buffer.from('[{"op":"remove","path":"/a"}]')), [{ op: 'remove', path: '/a' }]);
  assert.equal(readObject('application/json', Buffer.from('spec: {}')), undefined, 'YAML sent as JSON: the API server refuses it');
});

test('YAML is read for application/yaml and server-side apply; other types are not read', () => {
  const text = 'spec:\n  hostPID: true\n  volumes: [{name: v, hostPath: {path: /}}]\n';
  const object = { spec: { hostPID: true, volumes: [{ name: 'v', hostPath: { path: '/' } }] } };
  assert.deepEqual(readObject('application/yaml', Buffer.from(text)), object);
  assert.deepEqual(readObject('application/apply-patch+yaml; charset=utf-8', Buffer.from(text)), object);
  assert.deepEqual(yaml('{"spec": {"hostPID": true}}'), { spec: { hostPID: true } }, 'JSON is YAML');
  assert.deepEqual(yaml('base: &b {hostPID: true}\nspec: *b\n'), { base: { hostPID: true }, spec: { hostPID: true } }, 'aliases');
  for (const type of ['application/vnd.kubernetes.protobuf', 'application/cbor', 'text/plain']) assert.equal(readObject(type, Buffer.from('{"a":1}')), undefined, type);
});

test('YAML read differently under 1.1 (the API server) and 1.2 is not read at all', () => {
  for (const text of ['a: yes', 'a: No', 'a: on', 'a: OFF', 'a: y', 'a: 0777', 'a: 1:30', 'a: 2026-12-01', 'base: &b {x: 1}\nm:\n  <<: *b', 'yes: 1', 'a: !!bool yes']) {
    assert.equal(yaml(text), undefined, text);
  }
  assert.deepEqual(yaml('a: "yes"\nb: true\nc: 10\nd: 0x1F\ne: null'), { a: 'yes', b: true, c: 10, d: 31, e: null });
});

test('YAML with duplicate keys, several documents, a %YAML directive, unknown tags or bytes that are not UTF-8 is not read', () => {
  const refused = [
    'a: 1\na: 2',
    'spec: {hostPID: false, hostPID: true}',
    'a: 1\n---\na: 2',
    '%YAML 1.2\n---\na: 1',
    '%YAML 1.1\n---\na: 1',
    'a: !custom x',
    'a: [unclosed',
  ];
  for (const text of refused) assert.equal(yaml(text), undefined, text);
  assert.equal(readObject('application/yaml', Buffer.concat([Buffer.from('a: '), Buffer.from([0xff, 0xfe])])), undefined, 'not UTF-8');
  assert.equal(readObject('application/yaml', Buffer.from('\ufeffa: 1', 'utf16le')), undefined, 'UTF-16');
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  assert.equal(yaml(laughs), undefined, 'a billion laughs');
});

test('invariant 11: a body nested deeper than any Kubernetes object is not read (the YAML parser would abort the process)', () => {
  for (const [type, text] of [
    ['application/yaml', '['.repeat(20_000) + ']'.repeat(20_000)],
    ['application/apply-patch+yaml', Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')],
    ['application/json', '['.repeat(20_000) + ']'.repeat(20_000)],
    ['application/yaml', "a: x']]]]\n" + '['.repeat(150) + ']'.repeat(150)],
  ]) {
    assert.equal(readObject(type, Buffer.from(text!)), undefined, `${type}: ${text!.slice(0, 20)}…`);
  }
  assert.deepEqual(readObject('application/json', Buffer.from('{"data":{"doc":"[[[[[[[["}}')), { data: { doc: '[[[[[[[[' } }, 'brackets inside a JSON string do not count');
});
