/** The gateway's exec credential plugin: when it runs again, what it must print, and whose refusal counts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ExecCredentials, parseExecCredential } from '../../src/kube/exec-credential.js';
import { connectionFromKubeconfigFile, KubeConnection } from '../../src/kube/connection.js';
import { ManualClock } from '../harness/manual-clock.js';

/** A plugin printing token-1, token-2, … each valid for `lifetimeMs` from the clock's now. */
function plugin(clock: ManualClock, lifetimeMs: number | undefined) {
  let runs = 0;
  const run = async () => {
    runs++;
    const expirationTimestamp = lifetimeMs === undefined ? undefined : new Date(clock.now() + lifetimeMs).toISOString();
    return JSON.stringify({ kind: 'ExecCredential', status: { token: `token-${runs}`, expirationTimestamp } });
  };
  return { credentials: new ExecCredentials({ command: 'plugin' }, { now: () => clock.now(), run }), runs: () => runs };
}

test('a credential is used until 80% of its lifetime, then the plugin runs again before it expires', async () => {
  const clock = new ManualClock();
  const { credentials, runs } = plugin(clock, 100_000);
  assert.equal((await credentials.credential()).token, 'token-1');
  clock.advance(79_000);
  assert.equal((await credentials.credential()).token, 'token-1');
  assert.equal(credentials.refreshAt(), clock.now() + 1_000);
  clock.advance(1_000);
  assert.equal((await credentials.credential()).token, 'token-2', 'renewed 20 s before it would expire');
  assert.equal(runs(), 2);
});

test('requests waiting for a credential share one run of the plugin', async () => {
  const clock = new ManualClock();
  const { credentials, runs } = plugin(clock, 60_000);
  const tokens = await Promise.all([credentials.credential(), credentials.credential(), credentials.credential()]);
  assert.deepEqual(tokens.map((c) => c.token), ['token-1', 'token-1', 'token-1']);
  assert.equal(runs(), 1);
});

test('a refused credential is dropped; a refusal of an older one leaves the newer in place', async () => {
  const clock = new ManualClock();
  const { credentials, runs } = plugin(clock, undefined);
  assert.equal(credentials.refreshAt(), undefined, 'without expirationTimestamp it lasts until refused');
  await credentials.credential();
  credentials.refused('Bearer token-1');
  assert.equal((await credentials.credential()).token, 'token-2');
  credentials.refused('Bearer token-1'); // a late 401 of a request sent with the old one
  assert.equal((await credentials.credential()).token, 'token-2');
  assert.equal(runs(), 2);
});

test('the credential goes into the request as kubectl sends it', async () => {
  const clock = new ManualClock();
  const { credentials } = plugin(clock, 60_000);
  const options: { headers?: Record<string, string> } = { headers: { Accept: 'application/json' } };
  await new KubeConnection('https://127.0.0.1:6443', {}, { exec: credentials }).applyToHTTPSOptions(options);
  assert.deepEqual(options.headers, { Accept: 'application/json', Authorization: 'Bearer token-1' });
});

test('a plugin that prints no credential, or an unreadable expiry, is an error that says so', () => {
  assert.throws(() => parseExecCredential('{"status":{}}'), /neither a token nor a client certificate/);
  assert.throws(() => parseExecCredential('{"status":{"token":"t","expirationTimestamp":"soon"}}'), /unreadable expirationTimestamp: soon/);
  assert.deepEqual(parseExecCredential('{"status":{"clientCertificateData":"C","clientKeyData":"K"}}'), { token: undefined, clientCertificateData: 'C', clientKeyData: 'K', expiresAt: undefined });
});

test('a kubeconfig user\'s exec plugin is run by the gateway, with KUBERNETES_EXEC_INFO set as kubectl sets it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-exec-'));
  // a relative command with a slash is the kubeconfig folder's, as kubectl reads it
  writeFileSync(join(dir, 'plugin.sh'), `#!/bin/sh\nprintf '{"status":{"token":"%s"}}' "$(printf '%s' "$KUBERNETES_EXEC_INFO" | tr -d '{}":, ')"\n`, { mode: 0o755 });
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
    users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './plugin.sh' } } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  }));
  const connection = connectionFromKubeconfigFile(path);
  const options: { headers?: Record<string, string> } = {};
  await connection.applyToHTTPSOptions(options);
  assert.equal(options.headers?.Authorization, 'Bearer kindExecCredentialapiVersionclient.authentication.k8s.io/v1specinteractivefalse');
  assert.equal(connection.exec?.runs, 1);
});
