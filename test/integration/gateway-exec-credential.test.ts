/**
 * The gateway's own credential toward the API server from an exec credential plugin, as on EKS outside
 * the cluster (`aws eks get-token`): test/fixtures/exec-plugin mints real ServiceAccount tokens through the
 * TokenRequest API, which the sandbox API server authenticates. The gateway runs the plugin again before
 * its credential expires, and when the API server refuses one (401) it renews it and sends the request
 * once more, while streams already open keep their connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { gatewayFixture } from '../harness/gateway-fixture.js';
import type { TestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/workloads.js';

const scratch = mkdtempSync(join(tmpdir(), 'kubegate-exec-plugin-'));
const runsFile = join(scratch, 'runs');
const lifetimeFile = join(scratch, 'lifetime-seconds');
const anchorSecret = 'gateway-credential-anchor';
writeFileSync(runsFile, '');
writeFileSync(lifetimeFile, '3');

/** The tokens the plugin printed, in order, with the lifetime each claimed. */
const runs = () =>
  readFileSync(runsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ lifetime: Number(line.split(' ')[0]), token: line.split(' ')[1]! }));

async function execPluginKubeconfig(cluster: TestCluster, account: { namespace: string; name: string }): Promise<{ kubeconfig: string }> {
  const admin = await cluster.kubectl();
  await admin.ok(['create', 'secret', 'generic', anchorSecret, '-n', account.namespace]);
  const file = join(scratch, 'kubeconfig');
  const env = { KUBECTL: cluster.state.binaries.kubectl, MINT_KUBECONFIG: cluster.state.kubeconfig, ACCOUNT: account.name, NAMESPACE: account.namespace, ANCHOR_SECRET: anchorSecret, LIFETIME_FILE: lifetimeFile, RUNS_FILE: runsFile };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster: { server: cluster.state.apiserver.url, 'certificate-authority-data': Buffer.from(readFileSync(cluster.state.apiserver.caFile)).toString('base64') } }],
    users: [{ name: 'gateway', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: join(packageRoot(), 'test', 'fixtures', 'exec-plugin', 'serviceaccount-token.sh'), env: Object.entries(env).map(([name, value]) => ({ name, value })), interactiveMode: 'Never' } } }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'gateway' } }],
    'current-context': 'sandbox',
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return { kubeconfig: file };
}

const fixture = gatewayFixture({ gatewayOptions: execPluginKubeconfig });

test('requests through the gateway keep working across its exec credential\'s expiry, and the plugin runs again', { timeout: 90_000 }, async () => {
  const { bot, target, gateway } = await fixture();
  const before = runs().length;
  assert.ok(before >= 1, 'the gateway got its credential from the plugin');
  // each credential claims 3 s: within seconds the gateway must run the plugin again, and no request may fail meanwhile
  await eventually(async () => {
    await bot.ok(['get', 'configmaps', '-n', target]);
    assert.ok(runs().length > before, 'the plugin ran again');
  }, 30_000, 500);
  assert.doesNotMatch(gateway.logs(), /Unauthorized/);
});

test('a credential the API server refuses (401) is renewed and the request sent once more; an open watch keeps its connection', { timeout: 90_000 }, async () => {
  const { bot, admin, target, namespace, cluster } = await fixture();
  writeFileSync(lifetimeFile, '3600');
  // from a credential claiming an hour on, only a refusal renews it
  await eventually(async () => {
    await bot.ok(['get', 'configmaps', '-n', target]);
    assert.equal(runs().at(-1)!.lifetime, 3600);
  }, 30_000, 500);
  const watch = bot.start(['get', 'configmaps', '-n', target, '--watch', '-o', 'name']);
  let watched = '';
  watch.stdout!.on('data', (chunk: Buffer) => (watched += chunk.toString()));
  try {
    await admin.ok(['create', 'configmap', 'before-revocation', '-n', target]);
    await eventually(async () => assert.match(watched, /configmap\/before-revocation/), 20_000);

    const refusedToken = runs().at(-1)!.token;
    const runsBefore = runs().length;
    // revoke the gateway's credential: its token is bound to this Secret's uid
    await admin.ok(['delete', 'secret', anchorSecret, '-n', namespace]);
    await admin.ok(['create', 'secret', 'generic', anchorSecret, '-n', namespace]);
    // the API server keeps a token it authenticated for up to 10 s (its token cache)
    await eventually(async () => assert.equal(await fetchAs(cluster, refusedToken), 401, 'the API server refuses the token the gateway holds'), 20_000, 500);

    const listed = await bot.ok(['get', 'configmaps', '-n', target, '-o', 'name']);
    assert.match(listed, /configmap\/before-revocation/, 'the request succeeded after one renewal');
    assert.equal(runs().length, runsBefore + 1, 'exactly one more run of the plugin');
    assert.equal(await fetchAs(cluster, runs().at(-1)!.token), 200);

    await admin.ok(['create', 'configmap', 'after-revocation', '-n', target]);
    await eventually(async () => assert.match(watched, /configmap\/after-revocation/), 20_000);
    assert.equal(watch.exitCode, null, 'the watch opened with the refused credential is still streaming');
  } finally {
    watch.kill();
  }
});

/** The status the API server answers a GET of /api with this bearer token. */
function fetchAs(cluster: TestCluster, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.state.apiserver.url}/api`, { ca: readFileSync(cluster.state.apiserver.caFile), headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
