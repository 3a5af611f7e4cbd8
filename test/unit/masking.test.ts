/**
 * Masking (security invariant 9): Secret data in every response shape (get, list, Table, watch), the
 * policy's fields and patterns; streamed output identical to the one-shot result at every chunk split;
 * masked JSON still valid and otherwise byte-for-byte unchanged; a 50 MB LIST streamed in bounded memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MaskingError, Masker, maskContextFor, maskedSecretData, maxMatchLength, streamMaskerTransform, type StreamMasker } from '../../src/policy/masking/masker.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';

const aws = 'AKIAABCDEFGHIJKLMNOP';
const masker = Masker.compile({ secrets: true, fields: ['.spec.template.spec.containers[*].env[*].value', 'data.password', "metadata.annotations['example.com/token']"], patterns: ['AKIA[0-9A-Z]{16}', '\\bpass\\w{0,8}=\\S{1,12}'] });
const secrets = { secrets: true };
const plain = { secrets: false };

/** Feeds `chunks` through a fresh stream masker and returns everything it emitted. */
function run(stream: StreamMasker, chunks: Buffer[]): Buffer {
  return Buffer.concat([...chunks.map((chunk) => stream.push(chunk)), stream.flush()]);
}

function splitAt(bytes: Buffer, ...points: number[]): Buffer[] {
  const bounds = [0, ...points, bytes.length];
  return bounds.slice(1).map((end, i) => bytes.subarray(bounds[i], end));
}

const secret = {
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 'db', namespace: 'a', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"aHVudGVyMg=="}}', team: 'payments' } },
  type: 'Opaque',
  data: { password: 'aHVudGVyMg==', 'user.name': 'YWRtaW4=' },
  stringData: { token: 'plain-text' },
};

test('a Secret: data values become base64 of *****, keys stay, stringData and the last-applied copy are masked', () => {
  const masked = masker.maskObject(secret, secrets);
  assert.deepEqual(masked.data, { password: maskedSecretData, 'user.name': maskedSecretData });
  assert.equal(Buffer.from(maskedSecretData, 'base64').toString(), '*****');
  assert.deepEqual(masked.stringData, { token: '*****' });
  assert.equal(masked.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], '*****');
  assert.equal(masked.metadata.annotations.team, 'payments');
  assert.equal(secret.data.password, 'aHVudGVyMg==', 'the input is not changed');
  assert.deepEqual(masker.maskObject(secret).data, masked.data, 'without a context, kind: Secret is recognised');
  const off = Masker.compile({ secrets: false, fields: [], patterns: [] });
  assert.equal(off.maskObject(secret, secrets).data.password, 'aHVudGVyMg==', 'masking.secrets: false');
  assert.equal(off.masksJson(secrets), false);
});

test('Secret lists, Tables (rows[].object and cells) and watch events', () => {
  const list = { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a' }, data: { k: 'dg==' } }, { metadata: { name: 'b' }, data: { k: 'dw==' } }] };
  assert.deepEqual(masker.maskObject(list, secrets).items.map((item) => item.data.k), [maskedSecretData, maskedSecretData]);
  const table = secretTable();
  const maskedTable = masker.maskObject(table, secrets);
  assert.deepEqual(maskedTable.rows[0]!.cells, ['db', 'Opaque', 2, '5d', '*****']);
  assert.equal(maskedTable.rows[0]!.object.data.password, maskedSecretData);
  const event = { type: 'MODIFIED', object: secret };
  const maskedEvent = masker.maskObject(event, secrets);
  assert.equal(maskedEvent.object.data.password, maskedSecretData);
  assert.equal(maskedEvent.type, 'MODIFIED');
  const tableEvent = masker.maskObject({ type: 'ADDED', object: table }, secrets);
  assert.deepEqual(tableEvent.object.rows[0]!.cells, ['db', 'Opaque', 2, '5d', '*****']);
});

function secretTable() {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: '9' },
    columnDefinitions: ['Name', 'Type', 'Data', 'Age', 'Token'].map((name) => ({ name, type: 'string', format: '', description: '', priority: 0 })),
    rows: [{ cells: ['db', 'Opaque', 2, '5d', 's3cr3t'], object: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db' }, data: { password: 'aHVudGVyMg==' } } }],
  };
}

test('the gateway decides Secret-ness from the request attributes', () => {
  assert.deepEqual(maskContextFor(parseRequestAttributes('GET', '/api/v1/namespaces/a/secrets')), secrets);
  assert.deepEqual(maskContextFor(parseRequestAttributes('GET', '/api/v1/watch/secrets')), secrets);
  assert.deepEqual(maskContextFor(parseRequestAttributes('GET', '/api/v1/namespaces/a/configmaps')), plain);
  assert.deepEqual(maskContextFor(parseRequestAttributes('GET', '/apis/example.com/v1/secrets')), plain, 'another group');
  const item = { metadata: { name: 'a' }, data: { k: 'dg==' } };
  assert.equal(masker.maskObject({ items: [item] }, secrets).items[0]!.data.k, maskedSecretData, 'list items carry no kind');
});

test('fields: the documented path syntax, masking strings at or beneath the path', () => {
  const deployment = {
    metadata: { annotations: { 'example.com/token': 'abc', other: 'x' } },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'web', env: [{ name: 'DB_URL', value: 'postgres://u:p@db' }, { name: 'N', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] } } },
    data: { password: 'hunter2', user: 'admin' },
  };
  const masked = masker.maskObject(deployment, plain);
  assert.deepEqual(masked.spec.template.spec.containers[0]!.env, [{ name: 'DB_URL', value: '*****' }, { name: 'N', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]);
  assert.deepEqual(masked.data, { password: '*****', user: 'admin' });
  assert.deepEqual(masked.metadata.annotations, { 'example.com/token': '*****', other: 'x' });
  assert.equal(masked.spec.replicas, 3);
  const whole = Masker.compile({ secrets: false, fields: ['$.spec.template', 'metadata.labels.*', 'items[0]'], patterns: [] });
  const maskedWhole = whole.maskObject({ spec: { template: { a: ['x', { b: 'y', n: 1, t: true }] } }, metadata: { labels: { app: 'web' } } }, plain);
  assert.deepEqual(maskedWhole, { spec: { template: { a: ['*****', { b: '*****', n: 1, t: true }] } }, metadata: { labels: { app: '*****' } } });
  for (const bad of ['', '.', 'a..b', 'a[x]', "a['unterminated]", 'a[*'])
    assert.throws(() => Masker.compile({ secrets: true, fields: [bad], patterns: [] }), /masking field/, JSON.stringify(bad));
});

test('patterns: in every string value, never in keys, and the result is the same length', () => {
  const body = { metadata: { name: 'cm' }, data: { [aws]: `key=${aws}`, note: 'password=hunter2 and passcode=1234 here' } };
  const masked = masker.maskObject(body, plain);
  assert.deepEqual(Object.keys(masked.data), [aws, 'note']);
  assert.equal(masked.data[aws], `key=${'*'.repeat(20)}`);
  assert.equal(masked.data['note'], 'password=hunter2 and passcode=1234 here'.replace('password=hunter2', '*'.repeat(16)).replace('passcode=1234', '*'.repeat(13)));
});

test('maxMatchLength is computed from the pattern; unbounded patterns and backreferences are refused', () => {
  const cases: [string, number][] = [
    ['AKIA[0-9A-Z]{16}', 20],
    ['ab|cdef', 4],
    ['x?y{2,5}', 6],
    ['(?:ab){3}', 6],
    ['\\d{3}-\\d{4}', 8],
    ['.{4}', 8],
    ['\\bkey\\b', 5],
    ['secret$', 7],
    ['(?<=id=)\\w{4}', 7],
    ['[^a]', 2],
    ['\\u{1F600}{2}', 4],
    ['', 1],
  ];
  for (const [pattern, length] of cases) assert.equal(maxMatchLength(pattern), length, pattern);
  for (const bad of ['\\S+', 'a*', 'x{2,}', '(a)\\1', '(?<n>a)\\k<n>', '.{0,5000}', '[unclosed'])
    assert.throws(() => maxMatchLength(bad), /masking pattern/, bad);
});

test('the text stream masker: a match straddling any chunk boundary is masked exactly as in one piece', () => {
  const text = Buffer.from(`log ${aws} line\npassword=abc password=abcdefghijklmnop\n${aws.slice(0, 10)}x AKIA${aws}\u00e9 end`, 'utf8');
  const expected = Buffer.from(masker.maskText(text.toString('latin1')), 'latin1');
  assert.ok(expected.includes('*'.repeat(20)));
  assert.ok(!expected.includes(aws));
  for (let a = 0; a <= text.length; a++) {
    assert.deepEqual(run(masker.createStreamMasker(), splitAt(text, a)), expected, `split at ${a}`);
    for (let b = a; b <= Math.min(text.length, a + 25); b++) assert.deepEqual(run(masker.createStreamMasker(), splitAt(text, a, b)), expected, `split at ${a}, ${b}`);
  }
  assert.deepEqual(run(masker.createStreamMasker(), [...text].map((byte) => Buffer.from([byte]))), expected, 'one byte at a time');
});

test('the text stream masker holds back at most maxMatchLength - 1 bytes and passes binary unchanged', () => {
  const stream = masker.createStreamMasker();
  const first = stream.push(Buffer.from('x'.repeat(100)));
  assert.equal(first.length, 100 - (masker.maxMatchLength - 1));
  assert.equal(stream.push(Buffer.from('y')).length, 1);
  assert.equal(stream.flush().length, masker.maxMatchLength - 1);
  const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
  assert.deepEqual(run(masker.createStreamMasker(), splitAt(binary, 1000, 1001, 3000)), binary);
  const none = Masker.compile({ secrets: true, fields: [], patterns: [] });
  assert.equal(none.masksText, false);
  const chunk = Buffer.from('abc');
  assert.equal(none.createStreamMasker().push(chunk), chunk, 'without patterns, chunks pass as they are');
});

test('anchors and word boundaries see the same neighbours in a stream', () => {
  const anchored = Masker.compile({ secrets: false, fields: [], patterns: ['^start\\d', '\\btok\\d{2}\\b', 'end$'] });
  const text = Buffer.from('start1 tok12 xtok34 tok567 tok89 start2 the end');
  const expected = Buffer.from(anchored.maskText(text.toString('latin1')), 'latin1');
  assert.equal(expected.toString(), '****** ***** xtok34 tok567 ***** start2 the ***');
  for (let a = 0; a <= text.length; a++) assert.deepEqual(run(anchored.createStreamMasker(), splitAt(text, a)), expected, `split at ${a}`);
});

function listBody(): string {
  const item = (i: number) => ({
    metadata: { name: `cm-${i}`, annotations: { 'example.com/token': `t${i}`, note: `quote " backslash \\ newline \n unicode é \u2028 ${aws}` } },
    data: { password: `pw${i}`, [`key${aws}`]: `value ${aws}` },
    spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'A', value: `secret ${i}` }] }] } } },
    counts: [1, -2.5e3, 0.1],
  });
  return JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '5' }, items: [item(0), item(1)] }).replace('"resourceVersion":"5"', '"resourceVersion":"5","big":12345678901234567890');
}

test('the JSON stream masker: valid JSON equal to maskObject at every split point, numbers untouched', () => {
  const bytes = Buffer.from(listBody());
  const expected = masker.maskObject(JSON.parse(bytes.toString()), plain);
  for (let a = 0; a <= bytes.length; a++) {
    const out = run(masker.createJsonStreamMasker(plain), splitAt(bytes, a));
    assert.deepEqual(JSON.parse(out.toString()), expected, `split at ${a}`);
    if (a === 0) {
      assert.ok(out.includes('"big":12345678901234567890'), 'an int64 is passed as written');
      assert.equal(out.toString().split(aws).length - 1, 2, 'only in the two keys: keys are never masked');
      assert.ok(out.includes(`"key${aws}"`));
    }
  }
  const secretBytes = Buffer.from(JSON.stringify(secretTable()));
  const expectedTable = masker.maskObject(secretTable(), secrets);
  for (let a = 0; a <= secretBytes.length; a++) assert.deepEqual(JSON.parse(run(masker.createJsonStreamMasker(secrets), splitAt(secretBytes, a)).toString()), expectedTable, `table split at ${a}`);
});

test('the JSON stream masker masks a watch stream event by event, split anywhere', () => {
  const events = [{ type: 'ADDED', object: secret }, { type: 'BOOKMARK', object: { kind: 'Secret', metadata: { resourceVersion: '10' } } }, { type: 'DELETED', object: { ...secret, data: { x: 'eA==' } } }];
  const bytes = Buffer.from(events.map((event) => JSON.stringify(event) + '\n').join(''));
  const expected = events.map((event) => masker.maskObject(event, secrets));
  for (let a = 0; a <= bytes.length; a += 3) {
    const lines = run(masker.createJsonStreamMasker(secrets), splitAt(bytes, a, Math.min(bytes.length, a + 7))).toString().trimEnd().split('\n');
    assert.deepEqual(lines.map((line) => JSON.parse(line)), expected, `split at ${a}`);
  }
});

test('the JSON stream masker matches patterns in the decoded text of escaped strings', () => {
  const raw = Buffer.from('{"a":"\\u0041KIAABCDEFGHIJKLMNOP","b":"x\\"AKIAABCDEFGHIJKLMNOP\\"y","c":"\\\\"}');
  const out = run(masker.createJsonStreamMasker(plain), splitAt(raw, 9));
  assert.deepEqual(JSON.parse(out.toString()), { a: '*'.repeat(20), b: `x"${'*'.repeat(20)}"y`, c: '\\' });
  assert.ok(out.toString().endsWith('"c":"\\\\"}'), 'an unmasked string keeps its original escapes');
});

test('the JSON stream masker refuses what it cannot mask: truncated, unbalanced, oversized', () => {
  assert.throws(() => run(masker.createJsonStreamMasker(secrets), [Buffer.from('{"data":{"password":"aHVu')]), MaskingError);
  assert.throws(() => run(masker.createJsonStreamMasker(plain), [Buffer.from('{"a":[1}')]), MaskingError);
  assert.throws(() => run(masker.createJsonStreamMasker(plain), [Buffer.from('{"a":1}}')]), MaskingError);
  const small = Masker.compile({ secrets: true, fields: [], patterns: ['x{3}'] }, { maxStringBytes: 1024 });
  assert.throws(() => run(small.createJsonStreamMasker(plain), [Buffer.from(`{"a":"${'y'.repeat(2000)}"}`)]), /longer than 1024 bytes/);
  assert.throws(() => run(masker.createJsonStreamMasker(plain), [Buffer.from('['.repeat(10_001))]), /nests deeper/);
});

test('streamMaskerTransform plugs a masker into a pipeline', async () => {
  const out: Buffer[] = [];
  await pipeline(Readable.from([Buffer.from('{"data":{"k":"djE='), Buffer.from('"}}')]), streamMaskerTransform(masker.createJsonStreamMasker(secrets)), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  assert.equal(Buffer.concat(out).toString(), `{"data":{"k":"${maskedSecretData}"}}`);
  await assert.rejects(pipeline(Readable.from([Buffer.from('{"a":')]), streamMaskerTransform(masker.createJsonStreamMasker(plain)), async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source);
  }), MaskingError);
});

test('a 50 MB non-Secret LIST streams through in bounded memory', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const item = (i: number) => JSON.stringify({ metadata: { name: `cm-${i}`, namespace: 'a', uid: `u-${i}` }, data: { config: `${'x'.repeat(400)} ${aws} ${'y'.repeat(400)}`, password: `pw-${i}` } });
  const stream = masker.createJsonStreamMasker(plain);
  gc();
  const baseline = process.memoryUsage();
  let peak = 0;
  let inBytes = 0;
  let outBytes = 0;
  let masked = 0;
  let chunk = '{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[';
  for (let i = 0; inBytes < 50 * 1024 * 1024; i++) {
    chunk += (i > 0 ? ',' : '') + item(i);
    if (chunk.length < 64 * 1024) continue;
    const bytes = Buffer.from(chunk);
    inBytes += bytes.length;
    const out = stream.push(bytes);
    outBytes += out.length;
    masked += out.toString('latin1').split('*'.repeat(20)).length - 1;
    chunk = '';
    if (i % 2000 === 0) {
      gc();
      const now = process.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.arrayBuffers - (baseline.heapUsed + baseline.arrayBuffers));
    }
  }
  const tail = Buffer.from(`${chunk}]}`);
  inBytes += tail.length;
  outBytes += stream.push(tail).length + stream.flush().length;
  assert.ok(inBytes >= 50 * 1024 * 1024);
  assert.ok(masked > 40_000, `${masked} access keys masked`);
  assert.ok(peak < 16 * 1024 * 1024, `memory grew by ${Math.round(peak / 1024)} KiB while streaming ${Math.round(inBytes / 1048576)} MiB`);
  assert.ok(outBytes < inBytes, 'data.password shrank to *****; nothing else changed length');
});
