/**
 * What the recording keeps of a request (invariant 9): JSON-patch values masked where they land, merge
 * patches of Secrets as Secrets, the request target and exec command with the policy's patterns, and a
 * TokenRequest's bearer token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { patchUnmasks, recordedRequestBody, responseMasking } from '../../src/policy/masking/bodies.js';
import { Masker, maskContextFor } from '../../src/policy/masking/masker.js';
import { maskedAttributes, maskedCommand, maskedTarget } from '../../src/policy/masking/request-target.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';

const aws = 'AKIAABCDEFGHIJKLMNOP';
const stars = '*'.repeat(20);
const masker = Masker.compile({ secrets: true, fields: ['data.password'], patterns: ['AKIA[0-9A-Z]{16}', 'password=\\S{1,64}'] });

function recorded(url: string, body: unknown, method = 'PATCH'): string {
  const bytes = Buffer.from(JSON.stringify(body));
  return recordedRequestBody(masker, parseRequestAttributes(method, url), { bytes, parsed: body }, 1 << 20).body;
}

test('invariant 9: a JSON patch of a Secret records every value masked where its path points', () => {
  const patch = [
    { op: 'replace', path: '/data/pw', value: 'c2VjcmV0LXZhbHVl' },
    { op: 'add', path: '/data', value: { pw: 'c2VjcmV0LXZhbHVl' } },
    { op: 'add', path: '/stringData/token', value: 'plain-secret' },
    { op: 'test', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: '{"data":{"pw":"c2VjcmV0LXZhbHVl"}}' },
    { op: 'add', path: '', value: { data: { pw: 'c2VjcmV0LXZhbHVl' } } },
    { op: 'add', path: 'not-a-pointer', value: 'c2VjcmV0LXZhbHVl' },
    { op: 'add', path: '/metadata/labels/team', value: 'payments' },
  ];
  const text = recorded('/api/v1/namespaces/a/secrets/db', patch);
  assert.ok(!text.includes('c2VjcmV0LXZhbHVl') && !text.includes('plain-secret'), text);
  const masked = JSON.parse(text) as { op: string; path: string; value: unknown }[];
  assert.deepEqual(masked.map((op) => op.value), ['KioqKio=', { pw: 'KioqKio=' }, '*****', '*****', { data: { pw: 'KioqKio=' } }, '*****', 'payments']);
  assert.deepEqual(masked.map((op) => op.path), patch.map((op) => op.path), 'the operations stay readable');
});

test('invariant 9: JSON patches of other objects mask policy fields and patterns at their place; merge patches of Secrets as Secrets', () => {
  const configPatch = JSON.parse(recorded('/api/v1/namespaces/a/configmaps/c', [{ op: 'replace', path: '/data/password', value: 'x' }, { op: 'add', path: '/data/aws', value: `key ${aws}` }, { op: 'add', path: '/spec/containers/0/args/-', value: 'ok' }])) as { value: string }[];
  assert.deepEqual(configPatch.map((op) => op.value), ['*****', `key ${stars}`, 'ok']);
  const merge = JSON.parse(recorded('/api/v1/namespaces/a/secrets/db', { data: { pw: 'c2VjcmV0' }, stringData: { t: 'clear' } })) as { data: { pw: string }; stringData: { t: string } };
  assert.deepEqual(merge, { data: { pw: 'KioqKio=' }, stringData: { t: '*****' } });
});

test('invariant 9: the recorded target masks patterns in the decoded path and query, re-encoding only what a match touched', () => {
  assert.equal(maskedTarget(masker, `/api/v1/namespaces/a/pods/web/exec?command=echo&command=${aws}&stdout=true`), `/api/v1/namespaces/a/pods/web/exec?command=echo&command=${stars}&stdout=true`);
  assert.equal(maskedTarget(masker, '/api/v1/namespaces/a/pods/web/exec?command=sh&command=-c&command=curl%20-u%20password%3Dhunter2%20x'), '/api/v1/namespaces/a/pods/web/exec?command=sh&command=-c&command=curl%20-u%20****************%20x', 'decoded before matching');
  assert.equal(maskedTarget(masker, '/api/v1/namespaces/a/services/s/proxy/login?password=hunter2%20next'), '/api/v1/namespaces/a/services/s/proxy/login?********=*******%20next', 'a match across "=": separators kept, the rest as sent');
  assert.equal(maskedTarget(masker, `/api/v1/namespaces/a/pods/p/proxy/keys/${aws}/x`), `/api/v1/namespaces/a/pods/p/proxy/keys/${stars}/x`);
  assert.equal(maskedTarget(masker, '/api/v1/namespaces/a/secrets?labelSelector=a%3Db'), '/api/v1/namespaces/a/secrets?labelSelector=a%3Db', 'nothing matched: byte for byte');
  const attributes = maskedAttributes(masker, parseRequestAttributes('POST', `/api/v1/namespaces/a/pods/web/exec?command=echo&command=${aws}`));
  assert.deepEqual(attributes.query['command'], ['echo', stars]);
  assert.equal(attributes.subresource, 'exec');
  assert.deepEqual(maskedCommand(masker, ['sh', '-c', `export K=${aws}`]), ['sh', '-c', `export K=${stars}`]);
  assert.deepEqual(maskedCommand(masker, ['mysql', 'password=hunter2', 'x']), ['mysql', '****************', 'x'], 'read as the command line, joined by spaces');
});

test('invariant 9: a TokenRequest response and recording mask status.token where the policy masks Secrets', async () => {
  const attributes = parseRequestAttributes('POST', '/api/v1/namespaces/a/serviceaccounts/builder/token');
  assert.deepEqual(maskContextFor(attributes), { secrets: false, tokenRequest: true });
  const response = { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['api'] }, status: { token: 'eyJhbGciOi.payload.sig', expirationTimestamp: '2026-01-01T00:00:00Z' } };
  assert.equal(masker.maskObject(response, maskContextFor(attributes)).status.token, '*****');
  const transform = responseMasking(masker, attributes, { 'content-type': 'application/json' })!;
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from([Buffer.from(JSON.stringify(response))]).pipe(transform)) chunks.push(chunk as Buffer);
  const streamed = JSON.parse(Buffer.concat(chunks).toString()) as typeof response;
  assert.deepEqual([streamed.status.token, streamed.status.expirationTimestamp], ['*****', '2026-01-01T00:00:00Z']);
  const off = Masker.compile({ secrets: false, fields: [], patterns: [] });
  assert.equal(off.masksJson(maskContextFor(attributes)), false, 'masking.secrets: false leaves tokens alone');
  assert.equal(masker.maskObject({ status: { token: 't' } }, maskContextFor(parseRequestAttributes('GET', '/api/v1/namespaces/a/serviceaccounts/builder'))).status.token, 't', 'only the token subresource');
});

test('invariant 9: a JSON patch that would copy or move a masked value to where it is not masked is named for refusal', () => {
  const secret = parseRequestAttributes('PATCH', '/api/v1/namespaces/a/secrets/db');
  const refused = (ops: object[], attributes = secret) => patchUnmasks(masker, attributes, ops);
  assert.match(refused([{ op: 'copy', from: '/data/pw', path: '/metadata/annotations/leak' }])!, /may not copy the masked \/data\/pw/);
  assert.ok(refused([{ op: 'move', from: '/data', path: '/metadata/labels' }]));
  assert.ok(refused([{ op: 'copy', from: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', path: '/metadata/annotations/x' }]));
  assert.ok(refused([{ op: 'copy', from: '', path: '/metadata/annotations/x' }]), 'the whole object');
  assert.ok(refused([{ op: 'copy', from: '/data/password', path: '/metadata/annotations/x' }], parseRequestAttributes('PATCH', '/api/v1/namespaces/a/configmaps/c')), 'a policy field');
  assert.equal(refused([{ op: 'move', from: '/data/a', path: '/data/b' }, { op: 'copy', from: '/metadata/labels/a', path: '/metadata/labels/b' }]), undefined, 'masked to masked, clear to clear');
  assert.equal(refused([{ op: 'copy', from: '/data/pw', path: '/metadata/annotations/x' }], parseRequestAttributes('PATCH', '/api/v1/namespaces/a/configmaps/c')), undefined, 'a ConfigMap\'s data is not masked here');
  assert.equal(patchUnmasks(Masker.compile({ secrets: false, fields: [], patterns: [] }), secret, [{ op: 'copy', from: '/data/pw', path: '/metadata/annotations/x' }]), undefined, 'nothing masked');
});
