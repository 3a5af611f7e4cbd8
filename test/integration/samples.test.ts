/**
 * Every file in samples/ applied for real (no dry run) against the sandbox with the real operator, as the
 * identity the sample and the README say applies it, reaching the state its comments describe; where a
 * sample yields a gateway, that gateway runs locally (the kwok node runs no images) and a kubectl call
 * through it with the grant's JIT kubeconfig succeeds. The one exception is samples/gitops/flux-sync.yaml:
 * Flux's own kinds do not exist in the sandbox. samples/dev is applied by `kubegate dev` itself, in a
 * sandbox of its own: dev.test.ts checks it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { serviceAccountToken, startOperator, type RunningOperator } from '../harness/operator.js';
import { jitKubeconfig, startGateway } from '../harness/gateway.js';
import { eventually } from '../harness/workloads.js';
import { Kubectl } from '../harness/kubectl.js';
import { packageRoot } from '../../src/util/package-root.js';
import { personalKubeconfigSecretName } from '../../src/api/names.js';

const run = promisify(execFile);
const root = packageRoot();
const kubegate = join(root, 'bin', 'kubegate');
const samples = join(root, 'samples');
const namespace = 'kubegate-system'; // the samples' namespace, which is also the operator's
const alice = { user: 'alice@example.com', groups: ['engineers'] };
const bob = { user: 'bob@example.com', groups: ['sre-leads'] };
const requesterRole = 'samples-requester-may-bind';

let cluster: TestCluster;
let admin: Kubectl;
let operator: RunningOperator | undefined;
let flux: Kubectl;

async function jsonOf(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

function sample(path: string): any {
  return parse(readFileSync(join(samples, path), 'utf8'));
}

/** What the README's quick start takes for granted: namespace payments, and RBAC for requesters and approvers. */
before(async () => {
  cluster = await testCluster();
  // the samples' stores are S3 buckets in eu-west-1, which the sandbox's MinIO (us-east-1) cannot stand for:
  // with a ledger, every grant and approval deleted here would wait on a store it can never write
  operator = await startOperator(cluster, { extraArgs: ['--no-ledger'] });
  admin = await cluster.kubectl();
  await admin.run(['create', 'namespace', 'payments']);
  // a requester may create grants, and bind (so hand out) the roles the samples ask for, anywhere
  await admin.ok(['create', 'rolebinding', 'samples-editors', '--clusterrole=kubegate-editor', '--group=engineers', `--serviceaccount=flux-system:kustomize-controller`, '-n', namespace]);
  await admin.ok(['create', 'clusterrole', requesterRole, '--verb=bind', '--resource=clusterroles', '--resource-name=edit', '--resource-name=view']);
  await admin.ok(['create', 'clusterrolebinding', requesterRole, `--clusterrole=${requesterRole}`, `--user=${alice.user}`, '--serviceaccount=flux-system:kustomize-controller']);
  await admin.ok(['create', 'rolebinding', 'samples-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  flux = new Kubectl(admin.binary, cluster.kubeconfigFile(await serviceAccountToken(cluster, 'flux-system', 'kustomize-controller')));
});

/**
 * Grants and policies carry finalizers the operator removes: delete them while it runs, grants first —
 * admission refuses any write to a grant (its finalizer's removal too) in a namespace without a policy.
 */
async function deleteKubegateObjects(objectNamespace: string): Promise<void> {
  for (const kinds of ['accessgrants,approvalrequests', 'sessionpolicies']) await admin.ok(['delete', kinds, '--all', '-n', objectNamespace, '--wait=true', '--timeout=50s']);
}

after(async () => {
  await deleteKubegateObjects(namespace);
  await admin.run(['delete', 'namespace', 'payments', 'kubegate-demo', '--wait=false']);
  await admin.run(['delete', 'clusterrolebinding', requesterRole, 'samples-alice-admin']);
  await admin.run(['delete', 'clusterrole', requesterRole]);
  await admin.run(['delete', 'rolebinding', 'samples-editors', 'samples-approvers', '-n', namespace]);
  await operator?.stop();
});

async function waitForPolicyReady(policyNamespace: string, name: string, replicas: number): Promise<void> {
  await eventually(async () => {
    const policy = await jsonOf(admin, ['get', 'sessionpolicy', name, '-n', policyNamespace]);
    assert.equal(policy.status?.phase, 'Ready', policy.status?.message);
    assert.deepEqual(policy.status.conditions.map((c: { type: string; status: string }) => [c.type, c.status]), [['Ready', 'True']]);
  }, 30_000);
  const deployment = await jsonOf(admin, ['get', 'deployment', `kubegate-gateway-${name}`, '-n', policyNamespace]);
  assert.equal(deployment.spec.replicas, replicas);
}

async function waitForPhase(grantNamespace: string, name: string, phase: string): Promise<any> {
  let grant: any;
  await eventually(async () => {
    grant = await jsonOf(admin, ['get', 'accessgrant', name, '-n', grantNamespace]);
    assert.equal(grant.status?.phase, phase, grant.status?.message);
  }, 30_000);
  return grant;
}

/** Pending with an ApprovalRequest, approved with `kubegate approve` by `approver`, then Active. */
async function approveGrant(grantNamespace: string, name: string, approver: { user: string; groups?: string[] }): Promise<any> {
  const pending = await waitForPhase(grantNamespace, name, 'Pending');
  await eventually(async () => assert.ok((await jsonOf(admin, ['get', 'accessgrant', name, '-n', grantNamespace])).status?.approvalRequest), 20_000);
  const request = (await jsonOf(admin, ['get', 'accessgrant', name, '-n', grantNamespace])).status.approvalRequest;
  assert.equal(pending.status.bindings ?? undefined, undefined, 'no binding while pending');
  const kubeconfig = cluster.kubeconfigFile(await cluster.tokenFor(approver));
  await run(kubegate, ['approve', request, '-n', grantNamespace, '--reason', 'checked CHG-1042', '--kubeconfig', kubeconfig]);
  return waitForPhase(grantNamespace, name, 'Active');
}

test('quick start: the prod policy gets its gateway, alice asks, an sre-lead approves, the bot works through the gateway', async () => {
  await admin.ok(['apply', '-f', join(samples, 'sessionpolicy.yaml')]);
  await waitForPolicyReady(namespace, 'prod', 2);
  const asAlice = await cluster.kubectl(alice);
  await asAlice.ok(['apply', '-f', join(samples, 'accessgrant.yaml')]);
  const grant = await approveGrant(namespace, 'deploy-bot-payments', bob);
  assert.deepEqual(grant.status.bindings.map((b: { kind: string; namespace?: string }) => `${b.kind}/${b.namespace ?? ''}`), ['RoleBinding/payments', 'ClusterRoleBinding/']);
  assert.equal(Date.parse(grant.status.expiresAt) - Date.parse(grant.status.activatedAt), 30 * 60_000);
  // a User subject's kubeconfig lives in the operator's namespace, readable by that user alone
  await eventually(() => admin.ok(['get', 'secret', personalKubeconfigSecretName(namespace, 'deploy-bot-payments'), '-n', namespace]).then(() => undefined), 20_000);

  await admin.ok(['create', 'configmap', 'payments-db', '-n', 'payments', '--from-literal=url=PassWord=hunter2']);
  const gateway = await startGateway(cluster, { namespace, name: 'prod' });
  try {
    const bot = new Kubectl(admin.binary, await jitKubeconfig(cluster, { namespace, name: 'deploy-bot-payments' }, gateway));
    const configMaps = await bot.ok(['get', 'configmaps', '-n', 'payments', '-o', 'json']);
    assert.match(configMaps, /payments-db/);
    assert.doesNotMatch(configMaps, /hunter2/, 'masked on its way through the gateway');
    const refused = await bot.run(['delete', 'namespace', 'payments']);
    assert.match(refused.stderr, /no-namespace-deletion/);
  } finally {
    await gateway.stop();
  }
});

test('approvalrequest.yaml: bob approves the grant request; the held-back exec waits until its expiry', async () => {
  const asBob = await cluster.kubectl(bob);
  // ApprovalRequests are the operator's and the gateway's to create: bob may here, to apply the sample as its decider
  await admin.ok(['create', 'role', 'samples-create-requests', '--verb=create', '--resource=approvalrequests.kubegate.dev', '-n', namespace]);
  await admin.ok(['create', 'rolebinding', 'samples-create-requests', '--role=samples-create-requests', `--user=${bob.user}`, '-n', namespace]);
  try {
    // the held request is the gateway's to open (admission lets only its ServiceAccount), the grant's request bob's to decide
    const [grantRequest, heldRequest] = readFileSync(join(samples, 'approvalrequest.yaml'), 'utf8').split(/^---$/m);
    await asBob.ok(['apply', '-f', '-'], { input: grantRequest });
    const asGateway = new Kubectl(admin.binary, cluster.kubeconfigFile(await serviceAccountToken(cluster, namespace, 'kubegate-gateway-prod')));
    await asGateway.ok(['apply', '-f', '-'], { input: heldRequest });
    await eventually(async () => {
      const approved = await jsonOf(admin, ['get', 'approvalrequest', 'deploy-bot-payments-x7k2', '-n', namespace]);
      assert.equal(approved.status?.phase, 'Approved');
      assert.equal(approved.status.approvals, 1);
    }, 20_000);
    const held = await jsonOf(admin, ['get', 'approvalrequest', 'deploy-bot-exec-coredns-4pq9', '-n', namespace]);
    await eventually(async () => {
      const phase = (await jsonOf(admin, ['get', 'approvalrequest', held.metadata.name, '-n', namespace])).status?.phase;
      assert.equal(phase, Date.parse(held.spec.expiresAt) > Date.now() ? 'Pending' : 'Expired');
    }, 20_000);
  } finally {
    await admin.ok(['delete', 'approvalrequest', 'deploy-bot-payments-x7k2', 'deploy-bot-exec-coredns-4pq9', '-n', namespace, '--ignore-not-found']);
    await admin.ok(['delete', 'rolebinding,role', 'samples-create-requests', '-n', namespace]);
  }
});

test('GitOps flow B: the pull-request decision applied by kustomize-controller approves the pending request', async () => {
  await admin.ok(['apply', '-f', join(samples, 'gitops', 'approvalrequest-pending.yaml')]); // as the operator would raise it
  await flux.ok(['apply', '--server-side', '--field-manager=kustomize-controller', '-f', join(samples, 'gitops', 'pull-request-decision.yaml')]);
  await eventually(async () => {
    const request = await jsonOf(admin, ['get', 'approvalrequest', 'deploy-bot-payments-x7k2', '-n', namespace]);
    assert.equal(request.status?.phase, 'Approved');
    assert.equal(request.status.conditions.find((c: { type: string }) => c.type === 'Decided').reason, 'PullRequestMerged');
  }, 20_000);
  await admin.ok(['delete', 'approvalrequest', 'deploy-bot-payments-x7k2', '-n', namespace]);
});

test('GitOps flow A: the merged grant applied by kustomize-controller goes Active as accessgrant-active.yaml shows', async () => {
  // the quick start's grant is of the same name
  await admin.ok(['delete', 'accessgrant', 'deploy-bot-payments', '-n', namespace, '--wait=true', '--timeout=60s']);
  await flux.ok(['apply', '--dry-run=server', '-n', namespace, '-f', join(samples, 'gitops', 'pull-request-accessgrant.yaml')]);
  await flux.ok(['apply', '--server-side', '--field-manager=kustomize-controller', '-f', join(samples, 'gitops', 'applied-accessgrant.yaml')]);
  const expected = sample('gitops/accessgrant-active.yaml');
  const grant = await waitForPhase(namespace, expected.metadata.name, 'Active');
  assert.equal(grant.status.approvalRequest, undefined, 'the merge is the approval: no ApprovalRequest');
  const conditions = (status: any) => status.conditions.map((c: any) => ({ type: c.type, status: c.status, reason: c.reason }));
  assert.deepEqual(conditions(grant.status), conditions(expected.status));
  const approved = (status: any) => status.conditions.find((c: { type: string }) => c.type === 'Approved').message;
  assert.equal(approved(grant.status), approved(expected.status));
  const bindingScopes = (status: any) => status.bindings.map((b: { kind: string; namespace?: string }) => `${b.kind}/${b.namespace}`);
  assert.deepEqual(bindingScopes(grant.status), bindingScopes(expected.status));
  assert.equal(Date.parse(grant.status.expiresAt) - Date.parse(grant.status.activatedAt), 45 * 60_000);
  await eventually(() => admin.ok(['get', 'secret', personalKubeconfigSecretName(namespace, expected.metadata.name), '-n', namespace]).then(() => undefined), 20_000);
});

test('scenario: kubectl apply -k, carol approves, the bot Job gets its kubeconfig and works through the demo gateway', async () => {
  // alice runs the whole scenario (namespaces, policy, Job): she is a cluster admin here
  await admin.ok(['create', 'clusterrolebinding', 'samples-alice-admin', '--clusterrole=cluster-admin', `--user=${alice.user}`]);
  const asAlice = await cluster.kubectl(alice);
  await eventually(() => asAlice.ok(['apply', '-k', join(samples, 'scenario')]).then(() => undefined), 20_000);
  await admin.ok(['create', 'rolebinding', 'samples-approvers', '--clusterrole=kubegate-approver', '--user=carol@example.com', '-n', 'kubegate-demo']);
  await waitForPolicyReady('kubegate-demo', 'demo', 1);
  const grant = await approveGrant('kubegate-demo', 'deploy-bot-payments', { user: 'carol@example.com' });
  assert.equal(Date.parse(grant.status.expiresAt) - Date.parse(grant.status.activatedAt), 3600_000);
  await eventually(() => admin.ok(['get', 'secret', 'deploy-bot-kubeconfig', '-n', 'kubegate-demo']).then(() => undefined), 20_000);
  await eventually(async () => assert.notEqual((await admin.ok(['get', 'pods', '-n', 'kubegate-demo', '-l', 'job-name=deploy-bot-rollout-payments-v2-3', '-o', 'name'])).trim(), ''), 30_000);

  const gateway = await startGateway(cluster, { namespace: 'kubegate-demo', name: 'demo' });
  try {
    const bot = new Kubectl(admin.binary, await jitKubeconfig(cluster, { namespace: 'kubegate-demo', name: 'deploy-bot-payments' }, gateway));
    await bot.ok(['get', 'deployments', '-n', 'payments']);
    const secrets = await bot.run(['get', 'secrets', '-n', 'payments']);
    assert.match(secrets.stderr, /no-secret-reads/);
  } finally {
    await gateway.stop();
    await deleteKubegateObjects('kubegate-demo');
  }
});
