/** The token the console shows the gateways: its ServiceAccount's, of the live events audience, cached until 80% of its life. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveEventsTokens, serviceAccountOf } from '../../src/console/live-token.js';
import type { KubeCall } from '../../src/console/kube-api.js';
import { ManualClock } from '../harness/manual-clock.js';

/** The API server's answers to the console: who it is, and a new token per TokenRequest living `lifetimeMs`. */
function apiServer(clock: ManualClock, username: string, lifetimeMs = 600_000) {
  const calls: KubeCall[] = [];
  let issued = 0;
  let failNext = false;
  const call = async <T>(request: KubeCall): Promise<T> => {
    calls.push(request);
    if (request.path.endsWith('/selfsubjectreviews')) return { status: { userInfo: { username } } } as T;
    if (failNext) {
      failNext = false;
      throw new Error('the API server failed');
    }
    return { status: { token: `token-${++issued}`, expirationTimestamp: new Date(clock.now() + lifetimeMs).toISOString() } } as T;
  };
  return { call, calls, tokenRequests: () => calls.filter((request) => request.path.endsWith('/token')), failNextRequest: () => (failNext = true) };
}

test('a ServiceAccount token of the audience kubegate-live-events, asked for again once 80% of its life has passed', async () => {
  const clock = new ManualClock();
  const server = apiServer(clock, 'system:serviceaccount:kubegate-system:kubegate-console');
  const tokens = new LiveEventsTokens(server.call, () => clock.now());
  assert.deepEqual(await Promise.all([tokens.token(), tokens.token()]), ['token-1', 'token-1'], 'callers share one request');
  assert.deepEqual(server.tokenRequests(), [
    {
      method: 'POST',
      path: '/api/v1/namespaces/kubegate-system/serviceaccounts/kubegate-console/token',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['kubegate-live-events'], expirationSeconds: 600 } },
    },
  ]);
  clock.advance(479_999);
  assert.equal(await tokens.token(), 'token-1');
  clock.advance(1);
  assert.equal(await tokens.token(), 'token-2');
  assert.equal(server.calls.filter((request) => request.path.endsWith('/selfsubjectreviews')).length, 1, 'the account is asked for once');
});

test('a token the API server issued for less than asked is refreshed at 80% of the life it was given; a failed request is made again', async () => {
  const clock = new ManualClock();
  const server = apiServer(clock, 'system:serviceaccount:ops:console', 100_000);
  const tokens = new LiveEventsTokens(server.call, () => clock.now());
  server.failNextRequest();
  await assert.rejects(tokens.token(), /the API server failed/);
  assert.equal(await tokens.token(), 'token-1');
  clock.advance(79_999);
  assert.equal(await tokens.token(), 'token-1');
  clock.advance(1);
  assert.equal(await tokens.token(), 'token-2');
});

test('a credential that is not a ServiceAccount: no token is asked for, and the console says it cannot follow gateways', async () => {
  const clock = new ManualClock();
  const server = apiServer(clock, 'kubernetes-admin');
  const tokens = new LiveEventsTokens(server.call, () => clock.now());
  await assert.rejects(tokens.token(), /the console cannot follow gateways: its credential \(kubernetes-admin\) is not a ServiceAccount/);
  assert.deepEqual(server.tokenRequests(), []);
  assert.equal(serviceAccountOf('system:serviceaccount:a:b:c'), undefined);
  assert.deepEqual(serviceAccountOf('system:serviceaccount:a:b'), { namespace: 'a', name: 'b' });
});
