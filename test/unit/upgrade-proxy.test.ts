/**
 * An upgrade whose stream never opens — the upstream request cannot be made, the API server refuses,
 * fails or breaks off its answer, the client goes away first, or the grant ends first — lets its request
 * go from the session table (else the session never idles and its recording never closes), stops the
 * upstream request, records why, and tells the client what it can (a 401 to the gateway's own
 * credentials after one more try). Over real loopback sockets: the
 * client's, and a stand-in API server that answers each upgrade as the test says.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { forwardUpgrade } from '../../src/gateway/upgrade-proxy.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import { admittedRequest, listening, upstreamAt } from '../harness/forwarding.js';

const path = '/api/v1/namespaces/payments/pods/web/exec?command=cat&stdin=true&stdout=true';

/** How the stand-in API server answers an upgrade: on its raw socket, or not at all. */
type Answer = (socket: Socket) => void;

/**
 * A stand-in API server; `gone` resolves once the gateway has stopped the first upgrade request (its
 * connection ended: the server's sockets are half-open, so its side stays until the test ends).
 */
async function apiServer(t: TestContext, answer: Answer): Promise<{ port: number; arrived: Promise<{ gone: Promise<unknown> }> }> {
  const server = createHttpServer();
  const arrived = once(server, 'upgrade').then(([, socket]) => ({ gone: once((socket as Socket).resume(), 'end') }));
  server.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
    socket.on('error', () => undefined);
    t.after(() => void socket.destroy());
    answer(socket);
  });
  return { port: await listening(t, server), arrived };
}

/** One upgrade through `forwardUpgrade`, from kubectl's socket (a loopback pair) to `upstream`. */
async function upgrade(t: TestContext, upstream: Upstream) {
  const parts = admittedRequest('GET', path, { connection: 'Upgrade', upgrade: 'websocket' });
  const accepted = createServer();
  const kubectl = connect(await listening(t, accepted), '127.0.0.1');
  const [client] = (await once(accepted, 'connection')) as [Socket];
  t.after(() => void kubectl.destroy());
  let answer = '';
  kubectl.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  const closed = once(kubectl, 'close');
  const forwarded = forwardUpgrade(parts.admitted, parts.request, client, Buffer.alloc(0), { upstream, sessions: parts.sessions, grants: parts.grants, logger: pino({ enabled: false }) });
  return {
    ...parts,
    forwarded,
    kubectl,
    /** What kubectl received, once its connection closed. */
    answer: () => closed.then(() => answer),
  };
}

test('an upstream request that cannot be made leaves the session table, and the error goes to the server', { timeout: 10_000 }, async (t) => {
  const u = await upgrade(t, { refused: () => undefined, request: () => Promise.reject(new Error('the token file is unreadable')) });
  await assert.rejects(u.forwarded, /the token file is unreadable/);
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['upstream request failed: the token file is unreadable']);
});

test('a refusal by the API server reaches kubectl as it is, and the request leaves the session table', { timeout: 10_000 }, async (t) => {
  const api = await apiServer(t, (socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\n\r\nforbidden'));
  const u = await upgrade(t, upstreamAt(api.port));
  await u.forwarded;
  assert.match(await u.answer(), /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*forbidden$/);
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['upstream answered 403']);
});

test('a refusal that breaks off midway breaks kubectl\'s connection and leaves the session table', { timeout: 10_000 }, async (t) => {
  const api = await apiServer(t, (socket) => {
    socket.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 100\r\n\r\nforbid');
    setImmediate(() => socket.destroy());
  });
  const u = await upgrade(t, upstreamAt(api.port));
  await u.forwarded;
  assert.match(await u.answer(), /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*forbid$/, 'nothing after the relayed bytes');
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['upstream answered 403']);
});

test('an API server that cannot be reached: kubectl gets the 502, the request leaves the session table', { timeout: 10_000 }, async (t) => {
  const closed = createServer();
  const port = await listening(t, closed);
  closed.close();
  const u = await upgrade(t, upstreamAt(port));
  await u.forwarded;
  assert.match(await u.answer(), /^HTTP\/1\.1 502 [\s\S]*the Kubernetes API server could not be reached/);
  assert.equal(u.session.active, 0);
  assert.match(u.closeReasons()[0]!, /^upstream error: connect ECONNREFUSED/);
});

test('kubectl going away before the API server answers stops the upstream request and leaves the session table', { timeout: 10_000 }, async (t) => {
  const api = await apiServer(t, () => undefined);
  const u = await upgrade(t, upstreamAt(api.port));
  await u.forwarded;
  const waiting = await api.arrived;
  u.kubectl.destroy();
  await waiting.gone;
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['the client closed the connection before the stream opened']);
});

test('invariant 11: a grant revoked before the API server answers ends the upgrade with a 401', { timeout: 10_000 }, async (t) => {
  const api = await apiServer(t, () => undefined);
  const u = await upgrade(t, upstreamAt(api.port));
  await u.forwarded;
  const waiting = await api.arrived;
  u.revoke();
  assert.match(await u.answer(), /^HTTP\/1\.1 401 [\s\S]*grant kubegate-system\/deploy-bot was revoked/);
  await waiting.gone;
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['grant revoked']);
});

test("a 401 from the API server (the gateway's own credentials refused) renews them and asks once more; a second 401 reaches kubectl", { timeout: 10_000 }, async (t) => {
  let upgrades = 0;
  const api = await apiServer(t, (socket) => {
    upgrades++;
    socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 12\r\n\r\nUnauthorized');
  });
  const refused: unknown[] = [];
  const u = await upgrade(t, { ...upstreamAt(api.port), refused: (request) => void refused.push(request) });
  await u.forwarded;
  assert.match(await u.answer(), /^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*Unauthorized$/);
  assert.equal(upgrades, 2, 'sent twice, not more');
  assert.equal(refused.length, 1, 'the first credential was reported refused');
  assert.equal(u.session.active, 0);
  assert.deepEqual(u.closeReasons(), ['upstream answered 401']);
});
