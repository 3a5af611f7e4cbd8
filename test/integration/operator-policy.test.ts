/**
 * SessionPolicy with the real operator: the gateway's children (IRSA ServiceAccount, TLS, compiled
 * policy, Deployment, Service, RBAC), impersonation exactly as wide as the Active grants (sharded by
 * subject, and tried with real impersonated requests), a policy change
 * rolling the Deployment, an invalid policy reported without touching the running gateway, deletion
 * removing every child, and the kustomize install checked by the API server.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { Kubectl } from '../harness/kubectl.js';
import { impersonationShard } from '../../src/operator/gateway-children.js';

let operator: RunningOperator | undefined;
after(() => operator?.stop());

async function setup(): Promise<{ cluster: TestCluster; kubectl: Kubectl; namespace: string }> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  return { cluster, kubectl: await cluster.kubectl(), namespace: await cluster.namespace('policy') };
}

async function json(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

async function readyPolicy(kubectl: Kubectl, namespace: string, name: string): Promise<any> {
  let policy: any;
  await eventually(async () => {
    policy = await json(kubectl, ['get', 'sessionpolicy', name, '-n', namespace]);
    assert.equal(policy.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status, 'True', JSON.stringify(policy.status));
  }, 20_000);
  return policy;
}

test('a policy gets its gateway: IRSA ServiceAccount, TLS, compiled policy, Deployment, Service', async () => {
  const { kubectl, namespace } = await setup();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  const policy = await readyPolicy(kubectl, namespace, 'prod');
  const version = policy.status.compiledVersion;
  assert.match(version, /^[0-9a-f]{12}$/);
  assert.equal(policy.status.gatewayAddress, `https://kubegate-gateway-prod.${namespace}.svc:443`);

  const account = await json(kubectl, ['get', 'serviceaccount', 'kubegate-gateway-prod', '-n', namespace]);
  assert.equal(account.metadata.annotations['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/kubegate-test-gateway');
  const config = await json(kubectl, ['get', 'configmap', 'kubegate-gateway-prod-policy', '-n', namespace]);
  const compiled = JSON.parse(config.data['policy.json']);
  assert.equal(compiled.version, version);
  assert.equal(compiled.rules[0].name, 'no-namespace-deletion');
  assert.ok(JSON.parse(config.data['jwks.json']).keys.length >= 1);
  assert.ok(JSON.parse(config.data['jwks.json']).keys.every((k: object) => !('d' in k)), 'no private key in the gateway config');

  const secret = await json(kubectl, ['get', 'secret', 'kubegate-gateway-prod-tls', '-n', namespace]);
  const serving = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  const ca = new X509Certificate(Buffer.from(secret.data['ca.crt'], 'base64'));
  assert.ok(serving.checkIssued(ca));
  assert.equal(serving.checkHost(`kubegate-gateway-prod.${namespace}.svc`), `kubegate-gateway-prod.${namespace}.svc`);

  const deployment = await json(kubectl, ['get', 'deployment', 'kubegate-gateway-prod', '-n', namespace]);
  const pod = deployment.spec.template.spec;
  assert.equal(deployment.spec.template.metadata.annotations['kubegate.dev/policy-version'], version);
  assert.equal(pod.serviceAccountName, 'kubegate-gateway-prod');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
  assert.ok(pod.terminationGracePeriodSeconds > 30, 'time for the drain and the spool upload after SIGTERM');
  assert.deepEqual(pod.containers[0].args.slice(0, 2), ['gateway', `--policy=${namespace}/prod`]);
  assert.equal(pod.containers[0].readinessProbe.httpGet.path, '/readyz');
  assert.ok(pod.containers[0].resources.requests.cpu);
  const service = await json(kubectl, ['get', 'service', 'kubegate-gateway-prod', '-n', namespace]);
  assert.equal(service.spec.ports[0].port, 443);
  assert.match(await kubectl.ok(['get', 'sessionpolicies', '-n', namespace]), /NAME\s+DEFAULT\s+READY\s+VERSION\s+AGE/);
});

test('impersonation RBAC names exactly the users and groups of Active grants, nothing before or after', async () => {
  const { kubectl, namespace } = await setup();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  await readyPolicy(kubectl, namespace, 'prod');
  const gateway = `system:serviceaccount:${namespace}:kubegate-gateway-prod`;
  const canImpersonate = async (what: string) => (await kubectl.run(['auth', 'can-i', 'impersonate', what, `--as=${gateway}`])).stdout.trim();
  assert.equal(await canImpersonate('users/kubegate:user:deploy-bot'), 'no');
  assert.equal(await canImpersonate('users/anyone'), 'no', 'no grants: no impersonation at all');

  const name = uniqueName('bot');
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '6s', access: [{ namespace, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => {
    assert.equal(await canImpersonate('users/kubegate:user:deploy-bot'), 'yes');
    assert.equal(await canImpersonate(`groups/kubegate:grant:${namespace}:${name}`), 'yes');
  }, 20_000);
  assert.equal(await canImpersonate('users/deploy-bot'), 'no', 'never the bare name');
  assert.equal(await canImpersonate('users/kubegate:user:someone-else'), 'no');
  assert.equal(await canImpersonate('groups/system:masters'), 'no');
  await eventually(async () => assert.equal(await canImpersonate('users/kubegate:user:deploy-bot'), 'no'), 20_000);
});

/** The API server's answer to a GET by the gateway's ServiceAccount impersonating `user` in `group`, with a session id. */
function statusAsGateway(cluster: TestCluster, token: string, path: string, user: string, group: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${token}`, 'impersonate-user': user, 'impersonate-group': group, 'impersonate-extra-kubegate.dev%2fsession-id': 'session-1' };
    const request = https.request(new URL(path, cluster.state.apiserver.url), { ca: readFileSync(cluster.state.apiserver.caFile), headers }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
    request.end();
  });
}

test('invariant 4: impersonation rights are sharded by subject; the API server lets the gateway act as a granted subject and its grant group, with the session id, and refuses anyone else', async () => {
  const { cluster, kubectl, namespace } = await setup();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'sharded')) });
  await readyPolicy(kubectl, namespace, 'sharded');
  const token = (await kubectl.ok(['create', 'token', 'kubegate-gateway-sharded', '-n', namespace])).trim();
  // two subjects whose rights land in different shards
  const users = Array.from({ length: 40 }, (_, i) => `shard-bot-${i}`);
  const first = users[0]!;
  const second = users.find((user) => impersonationShard(`kubegate:user:${user}`) !== impersonationShard(`kubegate:user:${first}`))!;
  const grants = [first, second].map((user) => ({ user, name: uniqueName(user) }));
  for (const { user, name } of grants) {
    await kubectl.ok(['apply', '-f', '-'], {
      input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: user }, duration: '1h', access: [{ namespace, clusterRole: 'view' }], policyRef: { name: 'sharded' }, requestedBy: 'kubegate-admin' })),
    });
  }
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  const asGrant = ({ user, name }: { user: string; name: string }) => statusAsGateway(cluster, token, path, `kubegate:user:${user}`, `kubegate:grant:${namespace}:${name}`);
  await eventually(async () => {
    for (const grant of grants) assert.equal(await asGrant(grant), 200, `${grant.user} through its grant`);
  }, 20_000);
  for (const { user } of grants) {
    const shard = `kubegate-gateway-${namespace}-sharded-impersonate-${impersonationShard(`kubegate:user:${user}`).toString(16)}`;
    const role = await json(kubectl, ['get', 'clusterrole', shard]);
    assert.deepEqual(role.rules.find((r: { resources: string[] }) => r.resources.includes('users')).resourceNames, [`kubegate:user:${user}`], `${shard} names its subject alone`);
  }
  assert.equal(await asGrant({ user: 'shard-bot-never-granted', name: 'no-such-grant' }), 403, 'a subject without a grant');
  assert.equal(await asGrant({ user: first, name: 'no-such-grant' }), 403, 'a granted subject with a group it was not granted');
  assert.equal(await statusAsGateway(cluster, token, path, 'kubegate:user:shard-bot-never-granted', `kubegate:grant:${namespace}:${grants[0]!.name}`), 403, 'a granted group with a subject that was not');

  await kubectl.ok(['patch', 'accessgrant', grants[0]!.name, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  await eventually(async () => assert.equal(await asGrant(grants[0]!), 403, 'revoked: its shard no longer names it'), 20_000);
  assert.equal(await asGrant(grants[1]!), 200, 'the other shard is untouched');
});

test('changing the policy rolls the gateway; an invalid change is reported and leaves the gateway alone', async () => {
  const { kubectl, namespace } = await setup();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  const before = (await readyPolicy(kubectl, namespace, 'prod')).status.compiledVersion;
  await eventually(async () => assert.equal((await json(kubectl, ['get', 'replicasets', '-n', namespace, '-l', 'kubegate.dev/policy=prod'])).items.length, 1), 20_000);

  await kubectl.ok(['patch', 'sessionpolicy', 'prod', '-n', namespace, '--type=merge', '-p', '{"spec":{"defaultAction":"Deny"}}']);
  let after = before;
  await eventually(async () => {
    after = (await json(kubectl, ['get', 'sessionpolicy', 'prod', '-n', namespace])).status.compiledVersion;
    assert.notEqual(after, before);
  }, 20_000);
  await eventually(async () => {
    const deployment = await json(kubectl, ['get', 'deployment', 'kubegate-gateway-prod', '-n', namespace]);
    assert.equal(deployment.spec.template.metadata.annotations['kubegate.dev/policy-version'], after);
    // the Deployment controller rolled it: a second ReplicaSet
    assert.equal((await json(kubectl, ['get', 'replicasets', '-n', namespace, '-l', 'kubegate.dev/policy=prod'])).items.length, 2);
  }, 30_000);

  await kubectl.ok(['patch', 'sessionpolicy', 'prod', '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { rules: [{ name: 'gizmo', match: { resources: ['gizmos'] }, action: 'Deny' }], masking: { patterns: ['AKIA[0-9A-Z{16}'] } } })]);
  await eventually(async () => {
    const policy = await json(kubectl, ['get', 'sessionpolicy', 'prod', '-n', namespace]);
    const ready = policy.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'InvalidPolicy');
    assert.match(ready.message, /spec\.rules\[0\]\.match\.resources: unknown resource "gizmos"/);
    assert.match(ready.message, /spec\.masking\.patterns\[0\]: bad regular expression/);
  }, 20_000);
  const events = await kubectl.ok(['get', 'events', '-n', namespace, '--field-selector', 'involvedObject.name=prod', '-o', 'jsonpath={.items[*].reason}']);
  assert.match(events, /InvalidPolicy/);
  const deployment = await json(kubectl, ['get', 'deployment', 'kubegate-gateway-prod', '-n', namespace]);
  assert.equal(deployment.spec.template.metadata.annotations['kubegate.dev/policy-version'], after, 'the gateway keeps the last good policy');
});

test('deleting a policy removes every child, cluster-scoped ones included', async () => {
  const { kubectl, namespace } = await setup();
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'doomed')) });
  await readyPolicy(kubectl, namespace, 'doomed');
  const clusterRole = `kubegate-gateway-${namespace}-doomed-impersonate`;
  await kubectl.ok(['get', 'clusterrole', clusterRole]);
  await kubectl.ok(['delete', 'sessionpolicy', 'doomed', '-n', namespace]);
  await eventually(async () => {
    const left = await kubectl.ok(['get', 'deployments,services,configmaps,secrets,serviceaccounts,roles,rolebindings', '-n', namespace, '-l', 'kubegate.dev/policy=doomed', '-o', 'name']);
    assert.equal(left.trim(), '');
    const clusterScoped = await kubectl.ok(['get', 'clusterroles,clusterrolebindings', '-o', 'name']);
    assert.deepEqual(clusterScoped.split('\n').filter((name) => name.includes(clusterRole)), [], 'the role, its shards and their bindings');
  }, 30_000);
});

test('the kustomize install passes the API server dry run', async () => {
  const { kubectl } = await setup();
  const out = await kubectl.ok(['apply', '--dry-run=server', '-k', join(packageRoot(), 'config', 'default')]);
  for (const expected of ['customresourcedefinition.apiextensions.k8s.io/accessgrants.kubegate.dev', 'deployment.apps/kubegate-operator', 'clusterrole.rbac.authorization.k8s.io/kubegate-operator', 'validatingadmissionpolicy.admissionregistration.k8s.io/kubegate-approval-deciders']) {
    assert.ok(out.includes(expected), `${expected} in:\n${out}`);
  }
});
