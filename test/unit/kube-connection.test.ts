/** The gateway's kubeconfig (kube/connection.ts): the subset it reads, and a clear refusal of the rest. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { connectionFromKubeconfig, defaultConnection, inClusterConnection, KubeconfigError } from '../../src/kube/connection.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>) {
  return {
    'current-context': 'gw',
    contexts: [{ name: 'other', context: { cluster: 'nowhere', user: 'nobody' } }, { name: 'gw', context: { cluster: 'c', user: 'u' } }],
    clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443', ...cluster } }],
    users: [{ name: 'u', user }],
  };
}

async function optionsOf(document: unknown, baseDir = '/nonexistent'): Promise<RequestOptions> {
  const options: RequestOptions = { headers: { Accept: 'application/json' } };
  await connectionFromKubeconfig(document, baseDir).applyToHTTPSOptions(options);
  return options;
}

test('the current context: its server, its CA and a token, as kubectl sends them', async () => {
  const document = kubeconfig({ 'certificate-authority-data': b64('CA'), 'tls-server-name': 'api.internal' }, { token: 'T' });
  assert.equal(connectionFromKubeconfig(document, '/').server, 'https://10.0.0.1:6443');
  const options = await optionsOf(document);
  assert.equal(options.ca?.toString(), 'CA');
  assert.equal(options.servername, 'api.internal');
  assert.equal(options.rejectUnauthorized, undefined);
  assert.deepEqual(options.headers, { Accept: 'application/json', Authorization: 'Bearer T' });
});

test('files named by a relative path are the kubeconfig folder\'s; a tokenFile is read again for each request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-kubeconfig-'));
  for (const [file, text] of [['ca.pem', 'CA'], ['client.pem', 'CERT'], ['client.key', 'KEY'], ['token', 'one\n']]) writeFileSync(join(dir, file!), text!);
  const document = kubeconfig({ 'certificate-authority': 'ca.pem', 'insecure-skip-tls-verify': true }, { 'client-certificate': 'client.pem', 'client-key': join(dir, 'client.key'), tokenFile: 'token' });
  const connection = connectionFromKubeconfig(document, dir);
  const first: RequestOptions = {};
  await connection.applyToHTTPSOptions(first);
  assert.deepEqual([first.ca?.toString(), first.cert?.toString(), first.key?.toString(), first.rejectUnauthorized], ['CA', 'CERT', 'KEY', false]);
  assert.deepEqual(first.headers, { Authorization: 'Bearer one' });
  writeFileSync(join(dir, 'token'), 'two'); // rotated, as the kubelet rotates a projected ServiceAccount token
  const second: RequestOptions = {};
  await connection.applyToHTTPSOptions(second);
  assert.deepEqual(second.headers, { Authorization: 'Bearer two' });
});

test('what the gateway does not support is refused at start, by name, not ignored', () => {
  assert.throws(() => connectionFromKubeconfig(kubeconfig({}, { 'auth-provider': { name: 'oidc' } }), '/'), (error: Error) => error instanceof KubeconfigError && /user "u" uses auth-provider, which kubegate's gateway and operator do not support/.test(error.message));
  assert.throws(() => connectionFromKubeconfig(kubeconfig({}, { username: 'a', password: 'b' }), '/'), /uses username, password/);
  assert.throws(() => connectionFromKubeconfig(kubeconfig({}, { token: 'T', as: 'someone' }), '/'), /uses as,/);
  assert.throws(() => connectionFromKubeconfig(kubeconfig({ 'proxy-url': 'http://proxy:3128' }, { token: 'T' }), '/'), /cluster "c" uses proxy-url/);
});

test('a kubeconfig without a usable current context says what is missing', () => {
  assert.throws(() => connectionFromKubeconfig({}, '/'), /no current-context/);
  assert.throws(() => connectionFromKubeconfig({ ...kubeconfig({}, {}), 'current-context': 'gone' }, '/'), /no context "gone"/);
  assert.throws(() => connectionFromKubeconfig({ ...kubeconfig({}, {}), clusters: [] }, '/'), /no cluster "c" with a server/);
  assert.throws(() => connectionFromKubeconfig({ ...kubeconfig({}, {}), users: [] }, '/'), /no user "u"/);
});

test('in a cluster: the service address (an IPv6 one in brackets), the ServiceAccount CA and its token, re-read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-serviceaccount-'));
  writeFileSync(join(dir, 'ca.crt'), 'CA');
  writeFileSync(join(dir, 'token'), 'sa-token');
  const connection = inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
  assert.equal(connection.server, 'https://[fd00::1]:443');
  const options: RequestOptions = {};
  await connection.applyToHTTPSOptions(options);
  assert.equal(options.ca?.toString(), 'CA');
  assert.deepEqual(options.headers, { Authorization: 'Bearer sa-token' });
  assert.throws(() => inClusterConnection({}, dir), /not in a cluster .*: pass --kubeconfig/);
});

test('the default kubeconfig is found as kubectl finds it: the flag, one $KUBECONFIG file, ~/.kube/config, then the pod', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-default-kubeconfig-'));
  const write = (file: string, server: string) => {
    const document = kubeconfig({}, { token: 'T' });
    document.clusters[0]!.cluster.server = server;
    writeFileSync(join(dir, file), JSON.stringify(document)); // JSON is YAML
    return join(dir, file);
  };
  const flag = write('flag', 'https://flag:6443');
  const fromEnv = write('env', 'https://env:6443');
  mkdirSync(join(dir, 'home', '.kube'), { recursive: true });
  write('home/.kube/config', 'https://home:6443');
  const home = join(dir, 'home');
  assert.equal(defaultConnection(flag, { KUBECONFIG: fromEnv }, home).server, 'https://flag:6443');
  assert.equal(defaultConnection(undefined, { KUBECONFIG: fromEnv }, home).server, 'https://env:6443');
  assert.equal(defaultConnection(undefined, {}, home).server, 'https://home:6443');
  assert.throws(() => defaultConnection(undefined, { KUBECONFIG: `${fromEnv}:${flag}` }, home), /\$KUBECONFIG names 2 files, which would have to be merged/);
  assert.throws(() => defaultConnection(undefined, {}, join(dir, 'nobody')), /not in a cluster/);
});
