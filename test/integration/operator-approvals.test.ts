/**
 * Approval with the real operator and the real admission policies (invariant 5): a grant that needs
 * approval waits on an ApprovalRequest; the requester, the subject and non-approvers cannot decide;
 * `kubegate approve` records the authenticated approver; decisions are append-only; a GitOps applier's
 * pull-request approval counts while the same object from anyone else is refused.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { serviceAccountToken, startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import { packageRoot } from '../../src/util/package-root.js';
import { Kubectl } from '../harness/kubectl.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
const flux = 'system:serviceaccount:flux-system:kustomize-controller';
let operator: RunningOperator | undefined;
after(() => operator?.stop());

async function setup(): Promise<{ cluster: TestCluster; namespace: string; target: string }> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  const namespace = await cluster.namespace('approvals');
  const target = await cluster.namespace('payments');
  const admin = await cluster.kubectl();
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  // people who work with approvals may edit kubegate objects in the namespace; approving is up to admission
  await admin.ok(['create', 'rolebinding', 'kubegate-editors', '--clusterrole=kubegate-editor', '--group=engineers', '-n', namespace]);
  await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  return { cluster, namespace, target };
}

async function jsonOf(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

test('invariant 5: a grant needing approval waits; requester, subject and outsiders are refused; an approver activates it', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  const requester = uniqueName('dev');
  await admin.ok(['create', 'rolebinding', `${requester}-bind`, '--clusterrole=edit', `--user=${requester}`, '-n', target]);
  await admin.ok(['create', 'clusterrole', `${requester}-bind-edit`, '--verb=bind', '--resource=clusterroles', '--resource-name=edit']);
  await admin.ok(['create', 'rolebinding', `${requester}-may-bind`, `--clusterrole=${requester}-bind-edit`, `--user=${requester}`, '-n', target]);
  const asRequester = await cluster.kubectl({ user: requester, groups: ['engineers'] });
  const name = uniqueName('deploy-bot');
  await eventually(async () => {
    await asRequester.ok(['create', '-f', '-'], {
      input: JSON.stringify(
        accessGrant(namespace, name, {
          subject: { kind: 'User', name: 'deploy-bot' },
          duration: '30m',
          access: [{ namespace: target, clusterRole: 'edit' }],
          policyRef: { name: 'prod' },
          approval: { required: true },
          requestedBy: requester,
        }),
      ),
    });
  });
  let requestName = '';
  await eventually(async () => {
    const grant = await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace]);
    assert.equal(grant.status?.phase, 'Pending');
    requestName = grant.status.approvalRequest;
    assert.ok(requestName);
  }, 20_000);
  const request = await jsonOf(admin, ['get', 'approvalrequest', requestName, '-n', namespace]);
  assert.equal(request.spec.requester, requester);
  assert.equal(request.spec.target.name, name);
  assert.equal((await admin.ok(['get', 'rolebindings', '-n', target, '-l', 'kubegate.dev/grant', '-o', 'name'])).trim(), '', 'no binding while pending');

  const approveAs = async (user: string, groups: string[]) => {
    const kubeconfig = cluster.kubeconfigFile(await cluster.tokenFor({ user, groups }));
    return run(kubegate, ['approve', requestName, '-n', namespace, '--reason', 'looks right', '--kubeconfig', kubeconfig]).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  };
  const self = await approveAs(requester, ['engineers', 'sre-leads']);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /the requester or the subject of a request cannot decide it/);
  const subject = await approveAs('deploy-bot', ['engineers', 'sre-leads']);
  assert.match(subject.stderr, /the requester or the subject of a request cannot decide it/);
  const outsider = await approveAs('mallory', ['engineers']);
  assert.match(outsider.stderr, /mallory is not an approver of policy prod/);
  // recording someone else as the approver is refused: `by` is the authenticated user
  const forger = await cluster.kubectl({ user: 'mallory', groups: ['engineers', 'sre-leads'] });
  const forged = await forger.run(['patch', 'approvalrequest', requestName, '-n', namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/decisions', value: [{ decision: 'Approve', by: 'alice', reason: 'forged' }] }])]);
  assert.match(forged.stderr, /a decision is recorded as the user who makes it: by must be mallory/);

  const approved = await approveAs('alice', ['engineers', 'sre-leads']);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, new RegExp(`approvalrequest ${namespace}/${requestName}: approved by alice`));
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Active'), 20_000);
  const decided = await jsonOf(admin, ['get', 'approvalrequest', requestName, '-n', namespace]);
  assert.equal(decided.status.phase, 'Approved');
  assert.deepEqual(decided.spec.decisions.map((d: { by: string }) => d.by), ['alice']);

  // decisions are append-only, even for the approver
  const rewrite = await (await cluster.kubectl({ user: 'alice', groups: ['engineers', 'sre-leads'] })).run([
    'patch', 'approvalrequest', requestName, '-n', namespace, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/decisions/0/reason', value: 'changed my mind' }]),
  ]);
  assert.notEqual(rewrite.code, 0);
});

test('a denial denies the grant and no binding is ever made', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  const name = uniqueName('denied');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '10m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, approval: { required: true }, requestedBy: 'kubegate-admin' })),
  });
  let requestName = '';
  await eventually(async () => {
    requestName = (await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.approvalRequest;
    assert.ok(requestName);
  }, 20_000);
  const bob = cluster.kubeconfigFile(await cluster.tokenFor({ user: 'bob', groups: ['sre-leads'] }));
  await run(kubegate, ['deny', requestName, '-n', namespace, '--reason', 'not during the freeze', '--kubeconfig', bob]);
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Denied'), 20_000);
  assert.equal((await admin.ok(['get', 'rolebindings', '-n', target, '-l', 'kubegate.dev/grant', '-o', 'name'])).trim(), '');
});

test('GitOps: a merged pull request counts from the listed applier and is refused from anyone else', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  const fluxToken = await serviceAccountToken(cluster, 'flux-system', 'kustomize-controller');
  await admin.run(['create', 'clusterrolebinding', 'flux-cluster-admin', '--clusterrole=cluster-admin', '--serviceaccount=flux-system:kustomize-controller']);
  const asFlux = new Kubectl(cluster.state.binaries.kubectl, cluster.kubeconfigFile(fluxToken));
  const pullRequest = { url: 'https://git.example.com/platform/access/pull/42', author: 'carol', approvers: ['bob'], mergedAt: new Date().toISOString() };
  const grant = (name: string, requestedBy: string) =>
    JSON.stringify(
      accessGrant(namespace, name, {
        subject: { kind: 'User', name: 'deploy-bot' },
        duration: '15m',
        access: [{ namespace: target, clusterRole: 'edit' }],
        policyRef: { name: 'prod' },
        approval: { required: true, pullRequest },
        requestedBy,
      }),
    );
  const merged = uniqueName('from-pr');
  await eventually(async () => {
    await asFlux.ok(['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], { input: grant(merged, flux) });
  });
  await eventually(async () => {
    const status = (await jsonOf(admin, ['get', 'accessgrant', merged, '-n', namespace])).status;
    assert.equal(status?.phase, 'Active');
    const approved = status.conditions.find((c: { type: string }) => c.type === 'Approved');
    assert.equal(approved.reason, 'PullRequestMerged');
    assert.match(approved.message, /pull\/42/);
  }, 20_000);
  const kept = await jsonOf(admin, ['get', 'accessgrant', merged, '-n', namespace]);
  assert.deepEqual(kept.spec.approval.pullRequest.approvers, ['bob']);

  const impostor = await admin.run(['apply', '--server-side', '-f', '-'], { input: grant(uniqueName('impostor'), 'kubegate-admin') });
  assert.notEqual(impostor.code, 0);
  assert.match(impostor.stderr, /only the GitOps appliers of policy prod may apply a grant approved by a pull request; kubegate-admin is not one/);

  // a pull-request decision on an ApprovalRequest: from the applier it approves, from anyone else it is refused
  const name = uniqueName('needs-pr');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '10m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, approval: { required: true }, requestedBy: 'kubegate-admin' })),
  });
  let requestName = '';
  await eventually(async () => {
    requestName = (await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.approvalRequest;
    assert.ok(requestName);
  }, 20_000);
  const decision = (by: string) => JSON.stringify([{ op: 'add', path: '/spec/decisions', value: [{ decision: 'Approve', by, reason: 'merged', pullRequest }] }]);
  const alice = await cluster.kubectl({ user: 'alice', groups: ['sre-leads'] });
  const fromAlice = await alice.run(['patch', 'approvalrequest', requestName, '-n', namespace, '--type=json', '-p', decision('alice')]);
  assert.match(fromAlice.stderr, /alice is not a GitOps applier of policy prod: a pull-request decision is refused/);
  await asFlux.ok(['patch', 'approvalrequest', requestName, '-n', namespace, '--type=json', '-p', decision(flux)]);
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Active'), 20_000);
});

test('under a policy with grants.approvalRequired, a grant that asks for no approval still waits for one', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'strict', { grants: { approvalRequired: true } })) });
  const name = uniqueName('no-approval-asked');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '30m', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'strict' }, requestedBy: 'kubegate-admin' })),
  });
  let requestName = '';
  await eventually(async () => {
    const grant = await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace]);
    assert.equal(grant.status?.phase, 'Pending');
    requestName = grant.status.approvalRequest;
    assert.ok(requestName, 'an ApprovalRequest was opened');
  }, 20_000);
  assert.equal((await admin.ok(['get', 'rolebindings', '-n', target, '-l', `kubegate.dev/grant=${(await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).metadata.uid}`, '-o', 'name'])).trim(), '', 'no binding while pending');
  const approver = await cluster.kubectl({ user: uniqueName('lead'), groups: ['sre-leads'] });
  await run(kubegate, ['approve', requestName, '-n', namespace, '--reason', 'checked', '--kubeconfig', approver.kubeconfig]);
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Active'), 20_000);
});

test('an approver may revoke a grant and change nothing else of it; an editor is not limited', async () => {
  const { cluster, namespace, target } = await setup();
  const admin = await cluster.kubectl();
  const name = uniqueName('ended');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Active'), 20_000);
  const approver = await cluster.kubectl({ user: 'bob', groups: ['sre-leads'] });
  const patch = (kubectl: Kubectl, body: object) => kubectl.run(['patch', 'accessgrant', name, '-n', namespace, '--type=merge', '-p', JSON.stringify(body)]);
  const revoke = { spec: { revoked: true } };
  const refusals: [string, object][] = [
    ['another kubeconfig Secret', { spec: { revoked: true, kubeconfigSecret: 'elsewhere' } }],
    ['a label', { ...revoke, metadata: { labels: { team: 'x' } } }],
    ['the finalizers', { ...revoke, metadata: { finalizers: null } }],
    ['another annotation', { ...revoke, metadata: { annotations: { note: 'x' } } }],
    ['only an annotation, not revoking', { metadata: { annotations: { 'kubegate.dev/revoked-reason': 'x' } } }],
  ];
  for (const [what, body] of refusals) {
    const refused = await patch(approver, body);
    assert.notEqual(refused.code, 0, what);
    assert.match(refused.stderr, /bob may only revoke grants in .* \(set spec\.revoked to true and nothing else\)/, what);
  }
  const access = await patch(approver, { spec: { revoked: true, access: [{ namespace: target, clusterRole: 'admin' }] } });
  assert.match(access.stderr, /access is immutable/, 'the CRD keeps the access as it was, for everyone');
  assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).spec.revoked, false, 'nothing of the refused changes landed');

  // the approver role reaches the namespace, but only the policy's own approvers may revoke under it
  const otherLeads = uniqueName('qa-leads');
  await admin.ok(['create', 'rolebinding', otherLeads, '--clusterrole=kubegate-approver', `--group=${otherLeads}`, '-n', namespace]);
  const notItsApprover = await patch(await cluster.kubectl({ user: 'quinn', groups: [otherLeads] }), revoke);
  assert.notEqual(notItsApprover.code, 0);
  assert.match(notItsApprover.stderr, new RegExp(`quinn may not revoke ${name}: only an approver of policy prod`));

  const revoked = await patch(approver, { ...revoke, metadata: { annotations: { 'kubegate.dev/revoked-reason': 'ended from the console (by bob)' } } });
  assert.equal(revoked.code, 0, revoked.stderr);
  await eventually(async () => assert.equal((await jsonOf(admin, ['get', 'accessgrant', name, '-n', namespace])).status?.phase, 'Revoked'), 20_000);
  const outsider = await patch(await cluster.kubectl({ user: 'oscar', groups: [] }), revoke);
  assert.match(outsider.stderr, /User "oscar" cannot \w+ resource "accessgrants"/, 'RBAC first: someone who holds no role on grants is refused by it');
  const editor = await patch(await cluster.kubectl({ user: 'erin', groups: ['engineers'] }), { metadata: { labels: { team: 'payments' } }, spec: { kubeconfigSecret: 'elsewhere' } });
  assert.equal(editor.code, 0, `an editor (update) changes what the CRD leaves mutable: ${editor.stderr}`);
});
