/**
 * Who may read what (README, "Who may read what"), with the real operator, RBAC and admission: an ordinary
 * requester (`edit` in the grants' namespace, so `kubegate-editor` too) reads no other grant's kubeconfig
 * and no signing key; a grant's `spec.kubeconfigSecret` never overwrites or deletes a Secret the grant did
 * not make; the subject reads its own kubeconfig with `kubegate kubeconfig`. Also: a namespace admin
 * cannot set a policy's IAM role, and a pull-request grant made before its policy existed never counts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { testCluster, type Identity, type TestCluster } from '../harness/cluster.js';
import { operatorNamespace, startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import type { Kubectl } from '../harness/kubectl.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
let operator: RunningOperator | undefined;
after(() => operator?.stop());

interface Setup {
  cluster: TestCluster;
  admin: Kubectl;
  namespace: string;
  target: string;
  requester: string;
  asRequester: Kubectl;
}

/** A policy namespace, a target namespace, and a requester with `edit` where the grants are and the right to bind `view` in the target. */
async function setup(): Promise<Setup> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  const namespace = await cluster.namespace('grants');
  const target = await cluster.namespace('payments');
  const admin = await cluster.kubectl();
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  const requester = uniqueName('mallory');
  await admin.ok(['create', 'rolebinding', `${requester}-edit`, '--clusterrole=edit', `--user=${requester}`, '-n', namespace]);
  await admin.ok(['create', 'clusterrole', `${requester}-bind-view`, '--verb=bind', '--resource=clusterroles', '--resource-name=view']);
  await admin.ok(['create', 'rolebinding', `${requester}-may-bind`, `--clusterrole=${requester}-bind-view`, `--user=${requester}`, '-n', target]);
  return { cluster, admin, namespace, target, requester, asRequester: await cluster.kubectl({ user: requester }) };
}

async function grantOf(admin: Kubectl, namespace: string, name: string): Promise<any> {
  return JSON.parse(await admin.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'json']));
}

async function kubeconfigAs(cluster: TestCluster, who: Identity | undefined, grant: string, namespace: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const kubeconfig = who ? cluster.kubeconfigFile(await cluster.tokenFor(who)) : cluster.state.kubeconfig;
  return run(kubegate, ['kubeconfig', grant, '-n', namespace, '--kubeconfig', kubeconfig]).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

async function secretData(admin: Kubectl, namespace: string, name: string): Promise<{ data: unknown; uid: string } | undefined> {
  const result = await admin.run(['get', 'secret', name, '-n', namespace, '-o', 'json']);
  if (result.code !== 0) return undefined;
  const secret = JSON.parse(result.stdout);
  return { data: secret.data, uid: secret.metadata.uid };
}

test("invariant 12: a grant's kubeconfig is readable by its subject alone, never by a requester in its namespace", async () => {
  const { cluster, admin, namespace, target, asRequester, requester } = await setup();
  const subject = uniqueName('ops-bot');
  const name = uniqueName('victim');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: subject }, duration: '30m', access: [{ clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => {
    const asAdmin = await kubeconfigAs(cluster, undefined, name, namespace);
    assert.equal(asAdmin.code, 0, asAdmin.stderr);
  }, 40_000);

  // the requester: no kubeconfig Secret where grants are made, none readable in the operator's namespace, no signing key
  assert.equal((await asRequester.ok(['get', 'secrets', '-n', namespace, '-l', 'kubegate.dev/grant', '-o', 'name'])).trim(), '', 'no kubeconfig Secret in the grants\' namespace');
  const viaCli = await kubeconfigAs(cluster, { user: requester }, name, namespace);
  assert.notEqual(viaCli.code, 0);
  assert.match(viaCli.stderr, /forbidden/i);
  for (const secret of [`kubeconfig.${namespace}.${name}`, 'kubegate-token-signing']) {
    const read = await asRequester.run(['get', 'secret', secret, '-n', operatorNamespace]);
    assert.notEqual(read.code, 0, `the requester read ${operatorNamespace}/${secret}`);
    assert.match(read.stderr, /forbidden/i);
  }
  // nor anyone else but the subject
  assert.notEqual((await kubeconfigAs(cluster, { user: uniqueName('outsider') }, name, namespace)).code, 0);
  // the subject reads it with kubegate kubeconfig, though it may not read the grant (the per-grant Role may take a moment to reach the authorizer)
  let asSubject = { code: 1, stdout: '', stderr: '' };
  await eventually(async () => {
    asSubject = await kubeconfigAs(cluster, { user: subject }, name, namespace);
    assert.equal(asSubject.code, 0, asSubject.stderr);
  });
  const token = parse(asSubject.stdout).users[0].user.token as string;
  assert.equal(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())['kubegate.dev/grant'].name, name, "the subject got its own grant's kubeconfig");

  // a Group subject's: readable by its members, not by others
  const group = uniqueName('oncall');
  const groupGrant = uniqueName('team');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, groupGrant, { subject: { kind: 'Group', name: group }, duration: '30m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => {
    const member = await kubeconfigAs(cluster, { user: uniqueName('member'), groups: [group] }, groupGrant, namespace);
    assert.equal(member.code, 0, member.stderr);
  }, 40_000);
  assert.notEqual((await kubeconfigAs(cluster, { user: requester }, groupGrant, namespace)).code, 0);

  // a ServiceAccount subject's kubeconfig is in the ServiceAccount's own namespace
  const home = await cluster.namespace('bots');
  const botGrant = uniqueName('bot');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, botGrant, { subject: { kind: 'ServiceAccount', namespace: home, name: 'builder' }, duration: '30m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => assert.ok((await secretData(admin, home, `${botGrant}-kubeconfig`))?.data), 20_000);

  // revocation removes the kubeconfig and the Role that let the subject read it
  await admin.ok(['patch', 'accessgrant', name, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  await eventually(async () => {
    assert.equal(await secretData(admin, operatorNamespace, `kubeconfig.${namespace}.${name}`), undefined);
    const reader = `kubeconfig.${namespace}.${name}`;
    assert.equal((await admin.ok(['get', `role/${reader}`, `rolebinding/${reader}`, '-n', operatorNamespace, '--ignore-not-found', '-o', 'name'])).trim(), '');
  });
});

test('invariant 12: spec.kubeconfigSecret never overwrites or deletes a Secret the grant did not make', async () => {
  const { admin, namespace, target, asRequester, requester } = await setup();
  await admin.ok(['create', 'secret', 'generic', 'vault-token', '-n', namespace, '--from-literal=token=s3cret']);
  const taken = [
    { namespace, name: 'vault-token' },
    { namespace: operatorNamespace, name: 'kubegate-token-signing' },
  ];
  const before = await Promise.all(taken.map((s) => secretData(admin, s.namespace, s.name)));
  assert.ok(before.every(Boolean));
  const grants = taken.map((secret) => ({ secret, name: uniqueName('squat') }));
  for (const { secret, name } of grants) {
    await eventually(async () => {
      await asRequester.ok(['create', '-f', '-'], {
        input: JSON.stringify(
          accessGrant(namespace, name, {
            subject: { kind: 'ServiceAccount', namespace: secret.namespace, name: 'builder' },
            duration: '30m',
            access: [{ namespace: target, clusterRole: 'view' }],
            policyRef: { name: 'prod' },
            requestedBy: requester,
            kubeconfigSecret: secret.name,
          }),
        ),
      });
    });
  }
  for (const { name } of grants) {
    await eventually(async () => {
      const grant = await grantOf(admin, namespace, name);
      assert.equal(grant.status?.phase, 'Active');
      assert.equal(grant.status.conditions.find((c: { type: string }) => c.type === 'KubeconfigReady')?.reason, 'SecretNotOwned');
    }, 20_000);
  }
  assert.deepEqual(await Promise.all(taken.map((s) => secretData(admin, s.namespace, s.name))), before, 'never overwritten');

  // another name for the first: written there, and the condition says so
  const renamed = `${grants[0]!.name}-kubeconfig`;
  await asRequester.ok(['patch', 'accessgrant', grants[0]!.name, '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { kubeconfigSecret: renamed } })]);
  await eventually(async () => {
    const grant = await grantOf(admin, namespace, grants[0]!.name);
    assert.equal(grant.status.conditions.find((c: { type: string }) => c.type === 'KubeconfigReady')?.status, 'True');
    assert.ok((await secretData(admin, namespace, renamed))?.data);
  });

  for (const { name } of grants) await asRequester.ok(['patch', 'accessgrant', name, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  for (const { name } of grants) await eventually(async () => assert.equal((await grantOf(admin, namespace, name)).status?.phase, 'Revoked'));
  assert.deepEqual(await Promise.all(taken.map((s) => secretData(admin, s.namespace, s.name))), before, 'never deleted');
  await eventually(async () => assert.equal(await secretData(admin, namespace, renamed), undefined, 'its own kubeconfig is deleted'));
});

test('a namespace admin cannot set or change a policy\'s iamRoleArn; a platform admin (set-iam-role) can', async () => {
  const { cluster, admin } = await setup();
  const namespace = await cluster.namespace('policies');
  const namespaceAdmin = uniqueName('ns-admin');
  const platformAdmin = uniqueName('platform');
  for (const user of [namespaceAdmin, platformAdmin]) await admin.ok(['create', 'rolebinding', `${user}-admin`, '--clusterrole=admin', `--user=${user}`, '-n', namespace]);
  await admin.ok(['create', 'rolebinding', `${platformAdmin}-iam`, '--clusterrole=kubegate-iam-role-setter', `--user=${platformAdmin}`, '-n', namespace]);
  const [asNamespaceAdmin, asPlatformAdmin] = await Promise.all([cluster.kubectl({ user: namespaceAdmin }), cluster.kubectl({ user: platformAdmin })]);
  const storage = { url: 's3://kubegate-sessions/test' };
  const policy = (name: string, iamRoleArn?: string) => JSON.stringify(sessionPolicy(namespace, name, { gateway: { replicas: 1, storage, ...(iamRoleArn ? { iamRoleArn } : {}) } }));

  await eventually(() => asNamespaceAdmin.ok(['create', '-f', '-'], { input: policy('plain') }).then(() => undefined));
  const refused = await asNamespaceAdmin.run(['create', '-f', '-'], { input: policy('own-role', 'arn:aws:iam::123456789012:role/anything') });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(`${namespaceAdmin} may not set spec.gateway.iamRoleArn`));
  const patched = await asNamespaceAdmin.run(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=merge', '-p', '{"spec":{"gateway":{"iamRoleArn":"arn:aws:iam::123456789012:role/anything"}}}']);
  assert.notEqual(patched.code, 0, 'adding one by update is refused too');

  await eventually(() => asPlatformAdmin.ok(['create', '-f', '-'], { input: policy('platform', 'arn:aws:iam::123456789012:role/kubegate-gateway') }).then(() => undefined));
  const changed = await asNamespaceAdmin.run(['patch', 'sessionpolicy', 'platform', '-n', namespace, '--type=merge', '-p', '{"spec":{"gateway":{"iamRoleArn":"arn:aws:iam::123456789012:role/other"}}}']);
  assert.notEqual(changed.code, 0, 'changing it is refused');
  // the rest of a policy whose role the platform set stays the namespace admin's
  await asNamespaceAdmin.ok(['patch', 'sessionpolicy', 'platform', '-n', namespace, '--type=merge', '-p', '{"spec":{"defaultAction":"Deny"}}']);
});

test('a namespace admin cannot set the gateway image or the identity providers (who the gateway is, whom it and the console believe); a platform admin can', async () => {
  const { cluster, admin } = await setup();
  const namespace = await cluster.namespace('platform-fields');
  const namespaceAdmin = uniqueName('ns-admin');
  const platformAdmin = uniqueName('platform');
  for (const user of [namespaceAdmin, platformAdmin]) await admin.ok(['create', 'rolebinding', `${user}-admin`, '--clusterrole=admin', `--user=${user}`, '-n', namespace]);
  await admin.ok(['create', 'rolebinding', `${platformAdmin}-fields`, '--clusterrole=kubegate-iam-role-setter', `--user=${platformAdmin}`, '-n', namespace]);
  const [asNamespaceAdmin, asPlatformAdmin] = await Promise.all([cluster.kubectl({ user: namespaceAdmin }), cluster.kubectl({ user: platformAdmin })]);
  const provider = (url: string) => ({ issuer: { url, audiences: ['kubegate'] }, claimMappings: { username: { claim: 'email', prefix: '' } } });
  const gateway = { replicas: 1, storage: { url: 's3://kubegate-sessions/test' } };
  const image = { spec: { gateway: { image: 'registry.example.com/not-kubegate:1' } } };
  const providers = { spec: { identityProviders: [provider('https://idp.attacker.example')] } };

  await eventually(() => asNamespaceAdmin.ok(['create', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'plain', { gateway })) }).then(() => undefined));
  for (const [field, patch] of [['spec.gateway.image', image], ['spec.identityProviders', providers]] as const) {
    const refused = await asNamespaceAdmin.run(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=merge', '-p', JSON.stringify(patch)]);
    assert.notEqual(refused.code, 0, `${field} set by a namespace admin`);
    assert.ok(refused.stderr.includes(`${namespaceAdmin} may not set ${field}`), refused.stderr);
  }
  const created = await asNamespaceAdmin.run(['create', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'own-idp', { gateway, identityProviders: [provider('https://idp.attacker.example')] })) });
  assert.notEqual(created.code, 0, 'nor on create');

  for (const patch of [image, providers]) await asPlatformAdmin.ok(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=merge', '-p', JSON.stringify(patch)]);
  const changed = await asNamespaceAdmin.run(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { identityProviders: [provider('https://idp.attacker.example'), provider('https://idp2.attacker.example')] } })]);
  assert.notEqual(changed.code, 0, 'adding a provider to the platform\'s is refused');
  // removing them narrows who is believed: that stays the namespace admin's, as does the rest of the policy
  await asNamespaceAdmin.ok(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=json', '-p', '[{"op":"remove","path":"/spec/identityProviders"}]']);
  await asNamespaceAdmin.ok(['patch', 'sessionpolicy', 'plain', '-n', namespace, '--type=merge', '-p', '{"spec":{"defaultAction":"Deny"}}']);
});

test('a pull-request grant admitted before its policy existed never activates unless its creator is an applier', async () => {
  const { admin, namespace, target, asRequester, requester } = await setup();
  const name = uniqueName('early');
  const pullRequest = { url: 'https://git.example.com/platform/access/pull/7', author: requester, approvers: [requester] };
  // admission passes it: there is no policy `later` to check the creator against (only `prod`)
  await eventually(async () => {
    await asRequester.ok(['create', '-f', '-'], {
      input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: requester }, duration: '30m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'later' }, approval: { pullRequest }, requestedBy: requester })),
    });
  });
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'later')) });
  await eventually(async () => {
    const grant = await grantOf(admin, namespace, name);
    assert.equal(grant.status?.phase, 'Denied');
    assert.equal(grant.status.conditions.find((c: { type: string }) => c.type === 'Ready')?.reason, 'NotAGitOpsApplier');
  }, 20_000);
  assert.equal((await admin.ok(['get', 'rolebindings', '-n', target, '-l', 'kubegate.dev/grant', '-o', 'name'])).trim(), '');
});
