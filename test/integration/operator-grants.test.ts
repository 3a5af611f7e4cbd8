/**
 * AccessGrant end to end with the real operator process: activation into bindings and a JIT kubeconfig,
 * expiry precision, revocation, deletion, an operator restart across an expiry, and admission refusing
 * escalation. Security invariants 1, 2 and 4 (the operator's half).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import { probe } from '../../src/sandbox/network.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);
let operator: RunningOperator | undefined;
after(() => operator?.stop());

async function setup(): Promise<{ cluster: TestCluster; namespace: string; target: string }> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  const namespace = await cluster.namespace('grants');
  const target = await cluster.namespace('payments');
  const kubectl = await cluster.kubectl();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  return { cluster, namespace, target };
}

async function grantStatus(cluster: TestCluster, namespace: string, name: string): Promise<Record<string, any>> {
  const kubectl = await cluster.kubectl();
  return JSON.parse(await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'json'])).status ?? {};
}

async function bindingsOf(cluster: TestCluster, uid: string): Promise<string[]> {
  const kubectl = await cluster.kubectl();
  const out = await kubectl.ok(['get', 'rolebindings,clusterrolebindings', '-A', '-l', `kubegate.dev/grant=${uid}`, '-o', 'name']);
  return out.split('\n').filter(Boolean);
}

test('invariant 1: an approved-free grant becomes Active with its binding and a JIT kubeconfig the API server refuses', async () => {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  const name = uniqueName('deploy-bot');
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify(
      accessGrant(namespace, name, {
        subject: { kind: 'User', name: 'deploy-bot' },
        duration: '30m',
        access: [{ namespace: target, clusterRole: 'edit' }],
        policyRef: { name: 'prod' },
        requestedBy: 'kubegate-admin',
        kubeconfigSecret: `${name}-kubeconfig`,
      }),
    ),
  });
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Active'), 60_000);
  const grant = JSON.parse(await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'json']));
  const expires = Date.parse(grant.status.expiresAt) - Date.parse(grant.status.activatedAt);
  assert.equal(expires, 30 * 60_000);
  assert.match(await kubectl.ok(['get', 'accessgrants', '-n', namespace]), /NAME\s+PHASE\s+SUBJECT\s+EXPIRES\s+POLICY\s+AGE/);

  const bindings = JSON.parse(await kubectl.ok(['get', 'rolebindings', '-n', target, '-l', `kubegate.dev/grant=${grant.metadata.uid}`, '-o', 'json'])).items;
  assert.equal(bindings.length, 1);
  assert.deepEqual(bindings[0].subjects.map((s: { kind: string; name: string }) => `${s.kind}:${s.name}`), [`Group:kubegate:grant:${namespace}:${name}`]);
  assert.equal(bindings[0].roleRef.name, 'edit');

  // the binding gives the prefixed identity plus the grant group exactly the grant's rights
  const as = ['--as=kubegate:user:deploy-bot', `--as-group=kubegate:grant:${namespace}:${name}`];
  assert.equal((await kubectl.run(['auth', 'can-i', 'create', 'deployments', '-n', target, ...as])).stdout.trim(), 'yes');
  assert.equal((await kubectl.run(['auth', 'can-i', 'get', 'pods', '-n', 'default', ...as])).stdout.trim(), 'no');

  // the JIT kubeconfig: the gateway's address and pinned CA, never skip-verify; the API server refuses its token
  let kubeconfigText = '';
  await eventually(async () => {
    const { stdout } = await run(join(packageRoot(), 'bin', 'kubegate'), ['kubeconfig', name, '-n', namespace, '--kubeconfig', cluster.state.kubeconfig]);
    kubeconfigText = stdout;
  });
  const kubeconfig = parse(kubeconfigText);
  assert.equal(kubeconfig.clusters[0].cluster.server, `https://kubegate-gateway-prod.${namespace}.svc:443`);
  assert.ok(kubeconfig.clusters[0].cluster['certificate-authority-data']);
  assert.equal(kubeconfig.clusters[0].cluster['insecure-skip-tls-verify'], undefined);
  const token: string = kubeconfig.users[0].user.token;
  const direct = await probe({ url: `${cluster.state.apiserver.url}/api/v1/namespaces/${target}/pods`, ca: cluster.state.apiserver.caFile && (await import('node:fs')).readFileSync(cluster.state.apiserver.caFile, 'utf8'), headers: { authorization: `Bearer ${token}` } });
  assert.equal(direct.status, 401, 'invariant 1: the API server itself refuses a JIT token');
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  assert.equal(claims['kubegate.dev/grant'].name, name);
  assert.equal(claims.exp, Math.floor(Date.parse(grant.status.expiresAt) / 1000));
  const overridden = await run(join(packageRoot(), 'bin', 'kubegate'), ['kubeconfig', name, '-n', namespace, '--server', 'https://127.0.0.1:9443', '--kubeconfig', cluster.state.kubeconfig]);
  assert.equal(parse(overridden.stdout).clusters[0].cluster.server, 'https://127.0.0.1:9443');
});

test('bindings are gone within 2 s of expiry, and the grant says Expired', async () => {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  const name = uniqueName('short');
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'ci-bot' }, duration: '4s', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Active'), 60_000);
  const uid = (await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const { expiresAt } = await grantStatus(cluster, namespace, name);
  assert.equal((await bindingsOf(cluster, uid)).length, 1);
  await eventually(async () => assert.deepEqual(await bindingsOf(cluster, uid), []), 10_000, 50);
  const lag = Date.now() - Date.parse(expiresAt);
  assert.ok(lag < 2000, `bindings removed ${lag} ms after expiry`);
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Expired'));
  const events = await kubectl.ok(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'jsonpath={.items[*].reason}']);
  assert.match(events, /Activated/);
  assert.match(events, /Expired/);
});

/** The grant's Ready condition, once it says `reason`. */
async function readyBecomes(cluster: TestCluster, namespace: string, name: string, reason: string, timeoutMs = 20_000): Promise<{ status: string; message: string }> {
  let ready: { status: string; reason: string; message: string } | undefined;
  await eventually(async () => {
    ready = ((await grantStatus(cluster, namespace, name)).conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready?.reason, reason);
  }, timeoutMs);
  return ready!;
}

/** A grant of view in the test's target and in a namespace that does not exist; its name and that namespace's. */
async function grantWithMissingNamespace(duration: string) {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  const [name, missing] = [uniqueName('missing-ns'), uniqueName('nowhere')];
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'ci-bot' }, duration, access: [{ namespace: target, clusterRole: 'view' }, { namespace: missing, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  return { cluster, kubectl, namespace, name, missing };
}

test('a grant naming a namespace that does not exist says so in Ready, holds its other bindings, and still ends at its expiry', async () => {
  const { cluster, kubectl, namespace, name, missing } = await grantWithMissingNamespace('8s');
  const ready = await readyBecomes(cluster, namespace, name, 'NamespaceNotFound');
  assert.equal(ready.status, 'False');
  assert.match(ready.message, new RegExp(`namespace ${missing} does not exist`));
  const { phase, expiresAt } = await grantStatus(cluster, namespace, name);
  assert.equal(phase, 'Active');
  const uid = (await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  await eventually(async () => assert.deepEqual((await bindingsOf(cluster, uid)).length, 1), 10_000);
  // a failing reconcile's backoff would have kept that binding past the expiry
  await eventually(async () => assert.deepEqual(await bindingsOf(cluster, uid), []), 20_000, 50);
  const lag = Date.now() - Date.parse(expiresAt);
  assert.ok(lag < 2000, `bindings removed ${lag} ms after expiry`);
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Expired'));
});

test('once the missing namespace is created, the grant gets its binding there and Ready turns True', async () => {
  const { cluster, kubectl, namespace, name, missing: late } = await grantWithMissingNamespace('1h');
  await readyBecomes(cluster, namespace, name, 'NamespaceNotFound');
  await kubectl.ok(['create', 'namespace', late]);
  after(() => kubectl.run(['delete', 'namespace', late, '--wait=false']).then(() => undefined));
  const ready = await readyBecomes(cluster, namespace, name, 'Active', 45_000); // looked at again every 30 s
  assert.equal(ready.status, 'True');
  const uid = (await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  assert.deepEqual((await bindingsOf(cluster, uid)).filter((binding) => binding.startsWith('rolebinding')).length, 2);
});

test('revoking or deleting a grant removes its bindings; un-revoking is refused', async () => {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  const names = [uniqueName('revoked'), uniqueName('deleted')];
  for (const name of names) {
    await kubectl.ok(['apply', '-f', '-'], {
      input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
    });
  }
  const uids: string[] = [];
  for (const name of names) {
    await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Active'), 60_000);
    uids.push((await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim());
    await eventually(async () => assert.equal((await bindingsOf(cluster, uids.at(-1)!)).length, 1));
  }
  await kubectl.ok(['patch', 'accessgrant', names[0]!, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  await kubectl.ok(['delete', 'accessgrant', names[1]!, '-n', namespace, '--wait=false']);
  const started = Date.now();
  await eventually(async () => {
    assert.deepEqual(await bindingsOf(cluster, uids[0]!), []);
    assert.deepEqual(await bindingsOf(cluster, uids[1]!), []);
  }, 10_000, 50);
  assert.ok(Date.now() - started < 2000);
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, names[0]!)).phase, 'Revoked'));
  await eventually(async () => assert.equal((await kubectl.run(['get', 'accessgrant', names[1]!, '-n', namespace])).code, 1), 10_000);
  const unrevoke = await kubectl.run(['patch', 'accessgrant', names[0]!, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":false}}']);
  assert.notEqual(unrevoke.code, 0);
});

test('a grant that expires while the operator is down loses its binding as soon as the operator is back', async () => {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  const name = uniqueName('downtime');
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '5s', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Active'), 60_000);
  const uid = (await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  await eventually(async () => assert.equal((await bindingsOf(cluster, uid)).length, 1));
  await operator!.kill();
  const { expiresAt } = await grantStatus(cluster, namespace, name);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(expiresAt) - Date.now()) + 1500));
  assert.equal((await bindingsOf(cluster, uid)).length, 1, 'nothing removed it while the operator was down');
  const restarted = Date.now();
  operator = await startOperator(cluster, { waitReady: false });
  await eventually(async () => assert.deepEqual(await bindingsOf(cluster, uid), []), 30_000, 50);
  const catchUp = Date.now() - restarted;
  await eventually(async () => assert.equal((await grantStatus(cluster, namespace, name)).phase, 'Expired'));
  assert.ok(catchUp < 15_000, `caught up ${catchUp} ms after restart`);
});

test('admission refuses a grant that hands out more than its creator could bind', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  const junior = uniqueName('junior');
  // junior may create grants and may bind `view` in the target namespace — nothing more
  await admin.ok(['create', 'rolebinding', `${junior}-grants`, '--clusterrole=kubegate-editor', `--user=${junior}`, '-n', namespace]);
  await admin.ok(['create', 'role', 'bind-view', '--verb=bind', '--resource=clusterroles', '--resource-name=view', '-n', target]);
  await admin.ok(['create', 'rolebinding', `${junior}-bind-view`, '--role=bind-view', `--user=${junior}`, '-n', target]);
  const asJunior = await cluster.kubectl({ user: junior });
  const grant = (name: string, access: object[], requestedBy = junior) =>
    JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '10m', access, policyRef: { name: 'prod' }, requestedBy }));

  await eventually(async () => {
    const escalation = await asJunior.run(['create', '-f', '-'], { input: grant(uniqueName('escalate'), [{ clusterRole: 'cluster-admin' }]) });
    assert.notEqual(escalation.code, 0);
    assert.match(escalation.stderr, new RegExp(`${junior} may not grant clusterrole/cluster-admin cluster-wide: a grant can only hand out roles its creator is allowed to bind`));
  });
  const editInTarget = await asJunior.run(['create', '-f', '-'], { input: grant(uniqueName('edit'), [{ namespace: target, clusterRole: 'edit' }]) });
  assert.match(editInTarget.stderr, /may not grant clusterrole\/edit in/);
  const impostor = await asJunior.run(['create', '-f', '-'], { input: grant(uniqueName('impostor'), [{ namespace: target, clusterRole: 'view' }], 'kubegate-admin') });
  assert.match(impostor.stderr, new RegExp(`spec.requestedBy must be the user creating the grant \\(${junior}\\)`));
  await asJunior.ok(['create', '-f', '-'], { input: grant(uniqueName('allowed'), [{ namespace: target, clusterRole: 'view' }]) });
});

test('the operator serves health and Prometheus metrics', async () => {
  await setup();
  const metrics = await probe({ url: `${operator!.healthUrl}/metrics` });
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /reconcile/);
  assert.match(metrics.body, /controller="accessgrant"/);
  assert.equal((await probe({ url: `${operator!.healthUrl}/healthz` })).status, 200);
});

test("grants.maxDuration: a longer duration, or an expiresAt further than it from creation, is Denied; a shorter one is Active", async () => {
  const { cluster, namespace, target } = await setup();
  const kubectl = await cluster.kubectl();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'short', { grants: { maxDuration: '1h' } })) });
  const inHours = (hours: number) => new Date(Date.now() + hours * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const asks = { tooLong: { duration: '2h' }, tooLate: { expiresAt: inHours(3) }, inTime: { expiresAt: inHours(0.5) } };
  const names = Object.fromEntries(Object.keys(asks).map((ask) => [ask, uniqueName(ask.toLowerCase())])) as Record<keyof typeof asks, string>;
  for (const [ask, when] of Object.entries(asks) as [keyof typeof asks, object][]) {
    const spec = { subject: { kind: 'User', name: 'deploy-bot' }, ...when, access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'short' }, requestedBy: 'kubegate-admin' };
    await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(accessGrant(namespace, names[ask], spec)) });
  }
  await eventually(async () => {
    for (const ask of ['tooLong', 'tooLate'] as const) {
      const status = await grantStatus(cluster, namespace, names[ask]);
      assert.equal(status.phase, 'Denied', ask);
      assert.equal(status.conditions.find((c: { type: string }) => c.type === 'Ready').reason, 'DurationExceedsPolicy');
    }
    const status = await grantStatus(cluster, namespace, names.inTime);
    assert.equal(status.phase, 'Active');
    assert.equal(Date.parse(status.expiresAt), Date.parse(asks.inTime.expiresAt));
  }, 20_000);
});
