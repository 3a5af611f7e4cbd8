/**
 * The gateway's one list of errors (src/gateway/errors.ts) is whole and honest: every code is documented
 * in the README's table with its HTTP status (as fastify's test/internals/errors.test.js keeps its
 * reference), every code is thrown somewhere, and an error that ends a request is told to the caller as
 * what it is — a failed connection to the API server as KG_UPSTREAM_UNAVAILABLE, a bug as KG_INTERNAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { GatewayError, gatewayErrors, refusalFor, type GatewayErrorCode } from '../../src/gateway/errors.js';
import { packageRoot } from '../../src/util/package-root.js';

const codes = Object.keys(gatewayErrors) as GatewayErrorCode[];

test('every error code is in the README table with its HTTP status, and the table names no other code', () => {
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const documented = new Map([...readme.matchAll(/^\| `(KG_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1]!, Number(match[2])]));
  for (const code of codes) {
    assert.ok(documented.has(code), `${code} is not documented in README.md's table of gateway errors`);
    assert.equal(documented.get(code), gatewayErrors[code].status, `README.md gives ${code} another HTTP status than errors.ts`);
  }
  assert.deepEqual([...documented.keys()].filter((code) => !(code in gatewayErrors)), [], 'README.md documents codes errors.ts does not have');
});

test('every error code is used outside errors.ts', () => {
  const gateway = join(packageRoot(), 'src', 'gateway');
  const sources = readdirSync(gateway, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && file !== 'errors.ts')
    .map((file) => readFileSync(join(gateway, file), 'utf8'))
    .join('\n');
  assert.deepEqual(codes.filter((code) => !sources.includes(`'${code}'`)), [], 'codes nothing in src/gateway/ throws');
});

/** A real refused connection: a port that was just free. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a failed connection is KG_UPSTREAM_UNAVAILABLE, also wrapped as the Kubernetes client wraps it; anything else is KG_INTERNAL', async () => {
  const port = await refusedPort();
  const socketError = await new Promise<Error>((resolve) => connect(port, '127.0.0.1').once('error', resolve));
  const fetchError = await fetch(`http://127.0.0.1:${port}/`).then(() => assert.fail('connected to a closed port'), (error: unknown) => error);
  assert.ok(fetchError instanceof TypeError, 'undici reports a refused connection as a TypeError');

  for (const error of [socketError, fetchError]) {
    const refusal = refusalFor(error);
    assert.equal(refusal.code, 'KG_UPSTREAM_UNAVAILABLE');
    assert.equal(refusal.status, 502);
    assert.match(refusal.message, /ECONNREFUSED/, 'the socket error, not "fetch failed"');
  }
  const tls = Object.assign(new Error('Hostname/IP does not match certificate'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  assert.equal(refusalFor(tls).code, 'KG_UPSTREAM_UNAVAILABLE');

  const bugs: unknown[] = [
    new TypeError("Cannot read properties of undefined (reading 'engine')"),
    new RangeError('Invalid time value'),
    Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }),
    'a string thrown',
    undefined,
  ];
  for (const error of bugs) {
    const refusal = refusalFor(error);
    assert.equal(refusal.code, 'KG_INTERNAL', String(error));
    assert.equal(refusal.status, 500);
    assert.equal(refusal.message, gatewayErrors.KG_INTERNAL.message, 'the detail goes to the log, not to the caller');
  }
  assert.deepEqual((refusalFor(new TypeError('x')).toStatus() as { reason: string; details: unknown }).reason, 'InternalError');
});

test('a refusal by design is answered as it is', () => {
  const denied = new GatewayError('KG_DENIED', 'denied by rule "x"');
  assert.equal(refusalFor(denied), denied);
  assert.deepEqual(new GatewayError('KG_COMMAND_BLOCKED', 'denied by rule "no-rm-rf" of policy ns/prod').toStatus(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'kubegate: this command is blocked by policy: denied by rule "no-rm-rf" of policy ns/prod',
    reason: 'Forbidden',
    code: 403,
    details: { causes: [{ reason: 'KG_COMMAND_BLOCKED' }] },
  });
});
