/**
 * `kubegate login`'s loopback redirect: any page the person has open can send a request to it, so one
 * that does not carry this login's state is answered 400 and the login goes on waiting for its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationCodeLogin, type OidcClient } from '../../src/cli/oidc-client.js';

const client: OidcClient = {
  metadata: { issuer: 'https://idp.example', authorization_endpoint: 'https://idp.example/auth', token_endpoint: 'https://idp.example/token', jwks_uri: 'https://idp.example/jwks' },
  clientId: 'kubegate',
  scopes: 'openid',
  fetch: () => Promise.reject(new Error('no token exchange in this test')),
};

test('a callback without this login\'s state neither ends nor decides the login', async () => {
  let authorize: URL | undefined;
  const login = authorizationCodeLogin(client, (url) => (authorize = new URL(url)), 10_000);
  const outcome = login.then(() => 'logged in', (error: Error) => error.message);
  while (!authorize) await new Promise((resolve) => setImmediate(resolve));
  const callback = new URL(authorize.searchParams.get('redirect_uri')!);

  const forged = await fetch(`${callback}?state=not-ours&error=access_denied`);
  assert.equal(forged.status, 400);
  const stranger = await fetch(`${callback}?code=attacker-code`);
  assert.equal(stranger.status, 400);

  // the provider's own answer (this state) still decides it
  const own = await fetch(`${callback}?state=${authorize.searchParams.get('state')}&error=access_denied`);
  assert.equal(own.status, 400);
  assert.match(await outcome, /the provider refused: access_denied/);
});
