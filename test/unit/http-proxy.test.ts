/**
 * Invariant 11 for plain requests: a watch (or `logs -f`, or any response still streaming) whose grant
 * is revoked is cut off — the client's response breaks, never looks complete — and one not answered yet
 * gets the 401; either way the upstream request stops, the request leaves the session table, and the
 * recording has the response and a `stream-close` with the reason. And a 401 to the gateway's own
 * credentials is retried once. Over loopback HTTP: a client, the gateway's `forwardRequest` behind a
 * server, and a stand-in API server.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import { forwardRequest } from '../../src/gateway/http-proxy.js';
import type { RecordEvent } from '../../src/recording/recorder.js';
import pino from 'pino';
import { admittedRequest, listening, upstreamAt } from '../harness/forwarding.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import { withoutUncaughtExceptions } from '../harness/uncaught.js';

const path = '/api/v1/namespaces/payments/configmaps?watch=1';

/** Resolves once `message` is closed, whether it ended or was aborted. */
function closed(message: IncomingMessage): Promise<void> {
  return new Promise((resolve) => message.on('error', () => undefined).on('close', resolve));
}

/**
 * The stand-in API server (`answer` writes its response, or not), the gateway in front of it, and a
 * client's GET through both. `arrived` resolves once the API server has the request, `upstreamGone` once
 * that request is closed.
 */
async function watchThroughGateway(t: TestContext, answer: (response: ServerResponse) => void, adjust: (parts: ReturnType<typeof admittedRequest>) => void = () => undefined) {
  const parts = admittedRequest('GET', path);
  adjust(parts);
  const api = createServer();
  const arrived = once(api, 'request');
  const upstreamGone = arrived.then(([request]) => closed(request as IncomingMessage));
  api.on('request', (_request: IncomingMessage, response: ServerResponse) => answer(response));
  const upstream = upstreamAt(await listening(t, api));
  const gateway = createServer((request, response) => void forwardRequest(parts.admitted, request, response, { upstream, sessions: parts.sessions, grants: parts.grants, logger: pino({ enabled: false }) }));
  const gatewayPort = await listening(t, gateway);
  const client = get({ host: '127.0.0.1', port: gatewayPort, path, agent: false });
  t.after(() => void client.destroy());
  client.on('error', () => undefined); // a response cut off may also fail the request
  return { ...parts, arrived, upstreamGone, response: once(client, 'response').then(([response]) => response as IncomingMessage) };
}

/** Recorded events, briefly. */
function described(events: RecordEvent[]): string[] {
  return events.map((event) => (event.type === 'response' ? `response ${event.status}` : event.type === 'stream-close' ? `stream-close ${event.reason}` : event.type));
}

test('invariant 11: a watch whose grant is revoked is cut off, and the recording says why', { timeout: 10_000 }, async (t) => {
  const w = await watchThroughGateway(t, (response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
  });
  const response = await w.response;
  await once(response, 'data');
  w.revoke();
  await Promise.all([closed(response), w.upstreamGone]);
  assert.equal(response.complete, false, 'the client can tell the response was cut off');
  assert.deepEqual(described(await w.recorded(2)), ['response 200', 'stream-close grant revoked']);
  assert.equal(w.session.active, 0);
});

test('invariant 11: a request not answered yet when its grant is revoked gets the 401', { timeout: 10_000 }, async (t) => {
  const w = await watchThroughGateway(t, () => undefined);
  await w.arrived;
  w.revoke();
  const response = await w.response;
  let body = '';
  response.on('data', (chunk: Buffer) => (body += chunk.toString()));
  await Promise.all([once(response, 'end'), w.upstreamGone]);
  assert.equal(response.statusCode, 401);
  assert.match(body, /the access grant behind this token is not active: grant kubegate-system\/deploy-bot was revoked/);
  assert.deepEqual(described(await w.recorded(2)), ['response 401', 'stream-close grant revoked']);
  assert.equal(w.session.active, 0);
});

test('a bug in a forwarding callback ends that request, recorded, and the process sees no uncaughtException', { timeout: 10_000 }, async (t) => {
  await withoutUncaughtExceptions(async () => {
    const w = await watchThroughGateway(
      t,
      (response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
      },
      // the response handler reads the recording settings: here that read throws
      (parts) =>
        Object.defineProperty(parts.admitted.state.loaded.compiled, 'recording', {
          get: () => {
            throw new TypeError('a bug in the response handler');
          },
        }),
    );
    const response = await w.response;
    await Promise.all([closed(response), w.upstreamGone]);
    assert.equal(response.complete, false, 'the client can tell the response broke');
    assert.deepEqual(described(await w.recorded(2)), ['response 500', 'stream-close internal error: TypeError: a bug in the response handler']);
    assert.equal(w.session.active, 0);
  });
});

/** One GET through the gateway to a stand-in API server answering `statuses` in turn; what the client got, and what was refused. */
async function refusedOnce(t: TestContext, statuses: number[]): Promise<{ status: number | undefined; attempts: number; refused: number }> {
  const parts = admittedRequest('GET', '/api/v1/namespaces/payments/configmaps');
  let attempts = 0;
  const api = createServer((_request, response) => {
    const status = statuses[attempts++]!;
    response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'Unauthorized');
  });
  let refused = 0;
  const upstream = { ...upstreamAt(await listening(t, api)), refused: () => void refused++ };
  const gateway = createServer((request, response) => void forwardRequest(parts.admitted, request, response, { upstream, sessions: parts.sessions, grants: parts.grants, logger: pino({ enabled: false }) }));
  const port = await listening(t, gateway);
  const [response] = (await once(get({ host: '127.0.0.1', port, path: '/api/v1/namespaces/payments/configmaps', agent: false }), 'response')) as [IncomingMessage];
  response.resume();
  await once(response, 'end');
  return { status: response.statusCode, attempts, refused };
}

test("a 401 from the API server (the gateway's own credentials refused) is reported and the request sent once more", { timeout: 10_000 }, async (t) => {
  assert.deepEqual(await refusedOnce(t, [401, 200]), { status: 200, attempts: 2, refused: 1 });
});

test('a second 401 goes to the client: the request is sent at most twice', { timeout: 10_000 }, async (t) => {
  assert.deepEqual(await refusedOnce(t, [401, 401, 200]), { status: 401, attempts: 2, refused: 1 });
});

test('a watch gets an upstream connection of its own, other requests one from the pool: idle watches cannot take every pooled socket', { timeout: 10_000 }, async (t) => {
  const connections: Array<[string, string | undefined]> = [];
  for (const target of [path, '/api/v1/namespaces/payments/configmaps']) {
    const parts = admittedRequest('GET', target);
    const api = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const plain = upstreamAt(await listening(t, api));
    const upstream: Upstream = { ...plain, request: (method, upstreamPath, headers, connection) => (connections.push([upstreamPath, connection]), plain.request(method, upstreamPath, headers, connection)) };
    const gateway = createServer((request, response) => void forwardRequest(parts.admitted, request, response, { upstream, sessions: parts.sessions, grants: parts.grants, logger: pino({ enabled: false }) }));
    const [response] = (await once(get({ host: '127.0.0.1', port: await listening(t, gateway), path: target, agent: false }), 'response')) as [IncomingMessage];
    response.resume();
    await once(response, 'end');
  }
  assert.deepEqual(connections, [
    [path, 'dedicated'],
    ['/api/v1/namespaces/payments/configmaps', 'pooled'],
  ]);
});
