/**
 * The gateway under what clients other than a well-behaved kubectl do: oversize headers and bodies,
 * clients that send or read slowly, many sessions at once, the less common kubectl commands (cp,
 * debug), and Secrets written through it (recorded masked, invariant 9).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectHttp2 } from 'node:http2';
import { connect } from 'node:tls';
import { gatewayCall, gatewayFixture, recordedText } from '../harness/gateway-fixture.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();

async function runningPod(): Promise<string> {
  const { bot, target } = await setup();
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('tools', 1) });
  await bot.ok(['rollout', 'status', 'deployment/tools', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=tools');
  return pod!;
}

test('kubectl and other clients are served over HTTP/2 and HTTP/1.1', async () => {
  const fixture = await setup();
  const session = connectHttp2(fixture.gateway.url, { ca: fixture.ca });
  try {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/version', authorization: `Bearer ${fixture.token}` });
      let body = '';
      let status = 0;
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
    });
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /"gitVersion": "v1\.35/);
  } finally {
    session.close();
  }
  assert.equal((await gatewayCall(fixture, '/version', { authorization: `Bearer ${fixture.token}` })).status, 200, 'HTTP/1.1');
});

test('oversize headers and bodies are refused with a Status, and nothing of the body reaches the API server', async () => {
  const fixture = await setup();
  const { target, token, admin } = fixture;
  const headers = await gatewayCall(fixture, `/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${token}`, 'x-padding': 'x'.repeat(80 * 1024) });
  assert.equal(headers.status, 431);
  assert.match(headers.body, /"kind":"Status".*request headers are larger than the gateway accepts/);

  const big = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'too-big' }, data: { blob: 'x'.repeat(4 * 1024 * 1024) } }));
  const body = await gatewayCall(fixture, `/api/v1/namespaces/${target}/configmaps`, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, { method: 'POST', body: big });
  assert.equal(body.status, 413);
  assert.match(body.body, /request body is larger than the gateway accepts/);
  const chunked = await gatewayCall(fixture, `/api/v1/namespaces/${target}/configmaps`, { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, { method: 'POST', body: big });
  assert.equal(chunked.status, 413, 'a body without a declared length is counted as it arrives');
  assert.equal((await admin.run(['get', 'configmap', 'too-big', '-n', target])).code, 1, 'nothing was created');
});

test('slow clients hold only their own connection: kubectl keeps working beside them', async () => {
  const fixture = await setup();
  const { bot, target, token } = fixture;
  const url = new URL(fixture.gateway.url);
  // one client trickles its request headers, another asks for a watch and never reads
  const trickle = connect({ host: url.hostname, port: Number(url.port), ca: fixture.ca, servername: 'localhost' });
  const request = `GET /api/v1/namespaces/${target}/pods HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n`;
  let sent = 0;
  const dribble = setInterval(() => trickle.write(request[sent++] ?? 'X-Slow: 1\r\n'), 50);
  const stalled = connect({ host: url.hostname, port: Number(url.port), ca: fixture.ca, servername: 'localhost' });
  stalled.write(`GET /api/v1/namespaces/${target}/configmaps?watch=true HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  stalled.pause();
  try {
    for (let i = 0; i < 5; i++) {
      const result = await bot.run(['get', 'configmaps', '-n', target, '-o', 'name'], { timeoutMs: 15_000 });
      assert.equal(result.code, 0, result.stderr);
    }
    assert.ok(!trickle.destroyed && !stalled.destroyed, 'the slow clients are still connected while others are served');
  } finally {
    clearInterval(dribble);
    trickle.destroy();
    stalled.destroy();
  }
});

test('invariant 11: a malformed stream frame ends that one session, never the gateway', async () => {
  const fixture = await setup();
  const { bot, target, token } = fixture;
  const pod = await runningPod();
  const url = new URL(fixture.gateway.url);
  const socket = connect({ host: url.hostname, port: Number(url.port), ca: fixture.ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `GET /api/v1/namespaces/${target}/pods/${pod}/exec?command=cat&stdin=true&stdout=true HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n` +
      `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.from('kubegate-test-key').toString('base64')}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`,
  );
  await eventually(async () => assert.match(Buffer.concat(received).toString('latin1'), /^HTTP\/1\.1 101/), 20_000);
  socket.write(Buffer.from([0x82, 0x03, 0x00, 0x68, 0x69])); // a client frame without a mask: RFC 6455 forbids it
  await closed;
  const result = await bot.run(['exec', '-n', target, pod, '--', 'echo', 'still serving']);
  assert.equal(result.stdout, 'still serving\n', result.stderr);
});

test('many concurrent kubectl sessions, exec and API calls, are all served and recorded apart', async () => {
  const { bot, target, gateway } = await setup();
  const pod = await runningPod();
  const runs = Array.from({ length: 24 }, (_, i) =>
    i % 2 === 0
      ? bot.run(['exec', '-n', target, pod, '--', 'echo', `session-${i}`], { timeoutMs: 120_000 })
      : bot.run(['get', 'configmap', 'kube-root-ca.crt', '-n', target, '-o', 'name'], { timeoutMs: 120_000 }),
  );
  const results = await Promise.all(runs);
  results.forEach((result, i) => {
    assert.equal(result.code, 0, `run ${i}: ${result.stderr}`);
    assert.equal(result.stdout.trim(), i % 2 === 0 ? `session-${i}` : 'configmap/kube-root-ca.crt');
  });
  await eventually(async () => {
    const text = recordedText(gateway);
    for (let i = 0; i < 24; i += 2) assert.match(text, new RegExp(`^session-${i}\\n`, 'm'));
  }, 30_000);
});

test('kubectl cp (tar over exec) and kubectl debug (an ephemeral container) work through the gateway', async () => {
  const { bot, target } = await setup();
  const pod = await runningPod();
  const local = mkdtempSync(join(tmpdir(), 'kubegate-cp-'));
  // kwok runs exec commands on this machine: the "container" filesystem is the host's
  const remote = mkdtempSync(join(tmpdir(), 'kubegate-cp-remote-'));
  writeFileSync(join(remote, 'report.txt'), 'from the pod\n');
  await bot.ok(['cp', '-n', target, `${pod}:${remote}/report.txt`, join(local, 'report.txt')]);
  assert.equal(readFileSync(join(local, 'report.txt'), 'utf8'), 'from the pod\n');

  // `edit` does not include ephemeral containers: the grant's group gets that right beside it
  const { admin, namespace, grant } = await setup();
  await admin.ok(['create', 'role', 'debugger', '-n', target, '--verb=patch', '--resource=pods/ephemeralcontainers']);
  await admin.ok(['create', 'rolebinding', 'debugger', '-n', target, '--role=debugger', `--group=kubegate:grant:${namespace}:${grant}`]);
  const debug = await bot.run(['debug', '-n', target, pod, '--image=registry.example/debug:1', '--container=dbg', '--attach=false', '--profile=general']);
  assert.equal(debug.code, 0, debug.stderr);
  const containers = await bot.ok(['get', 'pod', pod, '-n', target, '-o', 'jsonpath={.spec.ephemeralContainers[*].name}']);
  assert.equal(containers.trim(), 'dbg');
});

test('a Secret written and read through the gateway reaches neither the client nor the recording in clear text', async () => {
  const { bot, target, gateway } = await setup();
  const value = 'hunter2-correct-horse';
  await bot.ok(['create', 'secret', 'generic', 'db', '-n', target, `--from-literal=password=${value}`, '--from-literal=note=AKIAQQQQQQQQQQQQQQQQ']);
  const read = await bot.ok(['get', 'secret', 'db', '-n', target, '-o', 'json']);
  assert.doesNotMatch(read, new RegExp(Buffer.from(value).toString('base64')));
  assert.equal(typeof JSON.parse(read).data.password, 'string', 'the key is still there, its value masked');
  await eventually(async () => assert.match(recordedText(gateway), /"name":"db"/), 20_000);
  const recorded = recordedText(gateway);
  for (const clear of [value, Buffer.from(value).toString('base64'), 'AKIAQQQQQQQQQQQQQQQQ', Buffer.from('AKIAQQQQQQQQQQQQQQQQ').toString('base64')]) {
    assert.ok(!recorded.includes(clear), `the recording holds ${clear}`);
  }
});
