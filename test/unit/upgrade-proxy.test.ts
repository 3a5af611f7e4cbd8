/**
 * An upgrade whose stream never opens — the upstream request cannot be made, the API server refuses,
 * fails or breaks off its answer, the client goes away first, or the grant ends first — lets its request
 * go from the session table (else the session never idles and its recording never closes), stops the
 * upstream request, records why, and tells the client what it can. Over real loopback sockets: the
 * client's, and a stand-in API server that answers each upgrade as the test says.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import type { AccessGrant } from '../../src/api/index.js';
import type { Admitted } from '../../src/gateway/admit.js';
import type { CallerIdentity } from '../../src/gateway/auth.js';
import { GrantWatch } from '../../src/gateway/grant-watch.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';
import { SessionTable } from '../../src/gateway/sessions.js';
import { forwardUpgrade } from '../../src/gateway/upgrade-proxy.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import type { RecordEvent, Recorder } from '../../src/recording/recorder.js';
import type { InformerEventHandler } from '../../src/runtime/informer.js';
import { ManualClock } from '../harness/manual-clock.js';

const path = '/api/v1/namespaces/payments/pods/web/exec?command=cat&stdin=true&stdout=true';
const identity: CallerIdentity = {
  tokenId: 'token-1',
  grant: { namespace: 'kubegate-system', name: 'deploy-bot', uid: 'uid-1' },
  subject: { kind: 'User', name: 'deploy-bot' },
  user: 'kubegate:user:deploy-bot',
  groups: ['kubegate:grant:kubegate-system:deploy-bot'],
  expiresAt: new Date(3600_000),
};
const activeGrant = {
  metadata: { namespace: 'kubegate-system', name: 'deploy-bot', uid: 'uid-1' },
  spec: { subject: identity.subject, policyRef: { name: 'prod' } },
  status: { phase: 'Active', expiresAt: new Date(3600_000).toISOString() },
} as AccessGrant;

/** How the stand-in API server answers an upgrade: on its raw socket, or not at all. */
type Answer = (socket: Socket) => void;

async function listening(server: ReturnType<typeof createServer> | ReturnType<typeof createHttpServer>, t: TestContext): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => void server.close());
  return (server.address() as AddressInfo).port;
}

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
  return { port: await listening(server, t), arrived };
}

function upstreamAt(port: number): Upstream {
  return { kubeconfig: undefined as never, request: async (method, target, headers) => httpRequest({ host: '127.0.0.1', port, method, path: target, headers, agent: false }) };
}

/**
 * One upgrade through `forwardUpgrade`: the client's socket pair, the session it runs in, what was
 * recorded, and the grant (`revoke` delivers the informer event).
 */
async function upgrade(t: TestContext, upstream: Upstream) {
  const clock = new ManualClock();
  const events: RecordEvent[] = [];
  const recorder: Recorder = { healthy: () => true, open: () => ({ record: async (event) => void events.push(event), close: async () => undefined }) };
  const sessions = new SessionTable({ recorder, policy: () => ({ namespace: 'kubegate-system', name: 'prod', version: 'v1' }), clock });
  let grant = activeGrant;
  const handlers: InformerEventHandler<AccessGrant>[] = [];
  const grants = new GrantWatch({ grants: { get: () => grant }, events: { addEventHandler: (handler) => void handlers.push(handler) }, logger: pino({ enabled: false }), clock });
  const request = { method: 'GET', url: path, headers: { connection: 'Upgrade', upgrade: 'websocket', 'kubectl-session': 's1' }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  const session = sessions.enter(request, identity);
  const accepted = createServer();
  const port = await listening(accepted, t);
  const kubectl = connect(port, '127.0.0.1');
  const [client] = (await once(accepted, 'connection')) as [Socket];
  t.after(() => void kubectl.destroy());
  let answer = '';
  kubectl.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  const closed = once(kubectl, 'close');
  const admitted = { requestId: 'r1', identity, session, attributes: parseRequestAttributes('GET', path) } as unknown as Admitted;
  const forwarded = forwardUpgrade(admitted, request, client, Buffer.alloc(0), { upstream, sessions, grants, logger: pino({ enabled: false }) });
  return {
    session,
    forwarded,
    kubectl,
    /** What kubectl received, once its connection closed. */
    answer: () => closed.then(() => answer),
    closeReasons: () => events.flatMap((event) => (event.type === 'stream-close' ? [event.reason] : [])),
    revoke() {
      grant = { ...activeGrant, spec: { ...activeGrant.spec, revoked: true } };
      for (const handler of handlers) handler.onUpdate?.(grant, activeGrant);
    },
  };
}

test('an upstream request that cannot be made leaves the session table, and the error goes to the server', { timeout: 10_000 }, async (t) => {
  const u = await upgrade(t, { kubeconfig: undefined as never, request: () => Promise.reject(new Error('the token file is unreadable')) });
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
  const port = await listening(closed, t);
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
