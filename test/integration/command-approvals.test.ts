/**
 * Command approvals through the real gateway, the real operator and the real admission policies
 * (invariants 5 and 6): a request held by the rule `configmap-deletes-need-a-human` opens an
 * ApprovalRequest whose requester is the person who asked for the grant and whose subject is the grant's
 * subject; neither of them, nor an outsider, nor a namespace admin of kubegate's objects can approve it or
 * forge an approval the gateway honours; a real approver's approval admits that exact request once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gatewayCall, gatewayFixture, type GatewayFixture } from '../harness/gateway-fixture.js';
import { jitKubeconfig } from '../harness/gateway.js';
import { accessGrant, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import { Kubectl } from '../harness/kubectl.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
const fixture = gatewayFixture();

interface People {
  f: GatewayFixture;
  /** Asked for the grant (its requestedBy); also one of the policy's approvers (sre-leads). */
  requester: string;
  /** The grant's subject, calling through the gateway; also in sre-leads. */
  subject: string;
  /** May edit kubegate objects (kubegate-editor), approves nothing. */
  outsider: string;
  /** kubegate-admin in the policy's namespace: every verb on ApprovalRequests, not an approver. */
  namespaceAdmin: string;
  /** The subject's kubectl through the gateway. */
  bot: Kubectl;
}

let people: Promise<People> | undefined;

function setup(): Promise<People> {
  return (people ??= (async () => {
    const f = await fixture();
    const { cluster, admin, namespace, target, gateway } = f;
    const [requester, subject, outsider, namespaceAdmin] = ['dev', 'ops-bot', 'mallory', 'ns-admin'].map(uniqueName) as [string, string, string, string];
    await admin.ok(['create', 'rolebinding', uniqueName('editors'), '--clusterrole=kubegate-editor', '--group=engineers', '-n', namespace]);
    await admin.ok(['create', 'rolebinding', uniqueName('approvers'), '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
    await admin.ok(['create', 'rolebinding', uniqueName('admins'), '--clusterrole=kubegate-admin', `--user=${namespaceAdmin}`, '-n', namespace]);
    const grant = uniqueName('ops-bot');
    // created as the requester (admission makes requestedBy the creator), with every right to bind
    await admin.ok(['create', '-f', '-', '--as', requester, '--as-group', 'system:masters'], {
      input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: subject }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: requester })),
    });
    const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
    await eventually(async () => void (await bot.ok(['get', 'configmaps', '-n', target])), 20_000);
    return { f, requester, subject, outsider, namespaceAdmin, bot };
  })());
}

async function jsonOf(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

/** Creates a ConfigMap and asks the gateway to delete it: held, with the ApprovalRequest it names. */
async function heldDelete(p: People, configMap = uniqueName('cm')): Promise<{ configMap: string; request: string }> {
  await p.f.admin.ok(['create', 'configmap', configMap, '-n', p.f.target, '--from-literal=k=v']);
  const held = await p.bot.run(['delete', 'configmap', configMap, '-n', p.f.target]);
  assert.notEqual(held.code, 0);
  const named = new RegExp(`ApprovalRequest ${p.f.namespace}/(\\S+) is Pending`).exec(held.stderr);
  assert.ok(named, held.stderr);
  return { configMap, request: named[1]! };
}

async function approveAs(p: People, request: string, user: string, groups: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const kubeconfig = p.f.cluster.kubeconfigFile(await p.f.cluster.tokenFor({ user, groups }));
  return run(kubegate, ['approve', request, '-n', p.f.namespace, '--reason', 'looks right', '--kubeconfig', kubeconfig]).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

async function configMapExists(p: People, name: string): Promise<boolean> {
  return (await p.f.admin.run(['get', 'configmap', name, '-n', p.f.target])).code === 0;
}

test("a held command's requester is the grant's requestedBy; requester, subject, outsider and namespace admin cannot approve it; an approver's approval admits it once", async () => {
  const p = await setup();
  const { request, configMap } = await heldDelete(p);
  const opened = await jsonOf(p.f.admin, ['get', 'approvalrequest', request, '-n', p.f.namespace]);
  assert.equal(opened.spec.requester, p.requester, 'the person who asked for the grant');
  assert.equal(opened.spec.subject, p.subject);
  assert.deepEqual(opened.spec.policyRef, { name: 'prod' });

  for (const [user, groups, refusal] of [
    [p.requester, ['engineers', 'sre-leads'], /the requester or the subject of a request cannot decide it/],
    [p.subject, ['engineers', 'sre-leads'], /the requester or the subject of a request cannot decide it/],
    [p.outsider, ['engineers'], new RegExp(`${p.outsider} is not an approver of policy prod`)],
    [p.namespaceAdmin, [], new RegExp(`${p.namespaceAdmin} is not an approver of policy prod`)],
  ] as const) {
    const attempt = await approveAs(p, request, user, [...groups]);
    assert.equal(attempt.code, 1, `${user} approved: ${attempt.stdout}`);
    assert.match(attempt.stderr, refusal);
  }
  assert.equal((await p.bot.run(['delete', 'configmap', configMap, '-n', p.f.target])).code, 1, 'still held');
  assert.ok(await configMapExists(p, configMap));

  // a real approver: that exact request, once
  const approved = await approveAs(p, request, 'alice', ['sre-leads']);
  assert.equal(approved.code, 0, approved.stderr);
  await eventually(async () => assert.equal((await jsonOf(p.f.admin, ['get', 'approvalrequest', request, '-n', p.f.namespace])).status?.phase, 'Approved'), 20_000);
  const other = await heldDelete(p);
  assert.notEqual(other.request, request, 'another delete is not the approved one');
  await p.bot.ok(['delete', 'configmap', configMap, '-n', p.f.target]);
  assert.equal(await configMapExists(p, configMap), false);
  await p.f.admin.ok(['create', 'configmap', configMap, '-n', p.f.target, '--from-literal=k=v']);
  const again = await p.bot.run(['delete', 'configmap', configMap, '-n', p.f.target]);
  assert.notEqual(again.code, 0, 'the approval is spent');
  assert.doesNotMatch(again.stderr, new RegExp(`ApprovalRequest ${p.f.namespace}/${request} `));
  assert.ok(await configMapExists(p, configMap));
});

test('an approval forged by a namespace admin, for a policy that does not exist, is refused and never honoured', async () => {
  const p = await setup();
  const { request, configMap } = await heldDelete(p);
  const real = await jsonOf(p.f.admin, ['get', 'approvalrequest', request, '-n', p.f.namespace]);
  const asAdmin = await p.f.cluster.kubectl({ user: p.namespaceAdmin });
  const copy = (name: string, policy: string, decisions: object[]) => ({
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'ApprovalRequest',
    metadata: { name, namespace: p.f.namespace, labels: real.metadata.labels, ownerReferences: real.metadata.ownerReferences },
    spec: { ...real.spec, policyRef: { name: policy }, request: { ...real.spec.request, policy }, decisions },
  });
  // the same request under the gateway's own policy, and under a missing policy approved by the forger
  const samePolicy = await asAdmin.run(['create', '-f', '-'], { input: JSON.stringify(copy(uniqueName('forged'), 'prod', [])) });
  assert.match(samePolicy.stderr, /an approval of a held request is opened only by the gateway of its policy/);
  const decision = { decision: 'Approve', by: p.namespaceAdmin, reason: 'forged' };
  const ghost = await asAdmin.run(['create', '-f', '-'], { input: JSON.stringify(copy(uniqueName('forged'), 'ghost', [decision])) });
  assert.match(ghost.stderr, /an approval of a held request is opened only by the gateway of its policy/);
  assert.equal((await p.bot.run(['delete', 'configmap', configMap, '-n', p.f.target])).code, 1);
  assert.ok(await configMapExists(p, configMap));
});

test('an ApprovalRequest naming a policy that does not exist is denied: no decision on it counts', async () => {
  const p = await setup();
  const asAdmin = await p.f.cluster.kubectl({ user: p.namespaceAdmin });
  const name = uniqueName('ghost');
  await asAdmin.ok(['create', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'kubegate.dev/v1alpha1',
      kind: 'ApprovalRequest',
      metadata: { name, namespace: p.f.namespace },
      spec: {
        policyRef: { name: uniqueName('ghost') },
        target: { name: p.f.grant },
        requester: p.requester,
        reason: 'forged',
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        decisions: [{ decision: 'Approve', by: p.namespaceAdmin, reason: 'no one checks me' }],
      },
    }),
  });
  await eventually(async () => {
    const status = (await jsonOf(p.f.admin, ['get', 'approvalrequest', name, '-n', p.f.namespace])).status;
    assert.equal(status?.phase, 'Denied');
    assert.equal(status?.conditions?.[0]?.reason, 'PolicyNotFound');
  }, 20_000);
});

test("an approved request relabelled to another request's hash is refused, and would not be honoured", async () => {
  const p = await setup();
  const decoy = await heldDelete(p);
  assert.equal((await approveAs(p, decoy.request, 'alice', ['sre-leads'])).code, 0);
  await eventually(async () => assert.equal((await jsonOf(p.f.admin, ['get', 'approvalrequest', decoy.request, '-n', p.f.namespace])).status?.phase, 'Approved'), 20_000);
  const victim = await heldDelete(p);
  const hash = (await jsonOf(p.f.admin, ['get', 'approvalrequest', victim.request, '-n', p.f.namespace])).metadata.labels['kubegate.dev/request-hash'];
  // the requester may patch ApprovalRequests (kubegate-editor): moving the decoy's approval to the victim
  const asRequester = await p.f.cluster.kubectl({ user: p.requester, groups: ['engineers'] });
  const relabel = await asRequester.run(['label', 'approvalrequest', decoy.request, '-n', p.f.namespace, '--overwrite', `kubegate.dev/request-hash=${hash}`]);
  assert.match(relabel.stderr, /the owner and the request-hash label of an approval of a held request are the gateway's to set/);
  // relabelled past admission (as the gateway's ServiceAccount, with every right), it is still the decoy's approval
  const asGateway = ['--as', `system:serviceaccount:${p.f.namespace}:kubegate-gateway-prod`, '--as-group', 'system:masters'];
  await p.f.admin.ok(['label', 'approvalrequest', decoy.request, '-n', p.f.namespace, '--overwrite', `kubegate.dev/request-hash=${hash}`, ...asGateway]);
  assert.equal((await p.bot.run(['delete', 'configmap', victim.configMap, '-n', p.f.target])).code, 1);
  assert.ok(await configMapExists(p, victim.configMap));
});

test('invariants 6 and 9: a held request carrying a masked value is shown masked, and its approval admits only the exact target, once', async () => {
  const p = await setup();
  const { f } = p;
  const configMap = uniqueName('cm');
  await f.admin.ok(['create', 'configmap', configMap, '-n', f.target, '--from-literal=k=v']);
  const awsKey = () => `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const [key, otherKey] = [awsKey(), awsKey()];
  const target = (k: string) => `/api/v1/namespaces/${f.target}/configmaps/${configMap}?propagationPolicy=Background&note=${k}`;
  const token = /token: (\S+)/.exec(readFileSync(p.bot.kubeconfig, 'utf8'))![1]!;
  const remove = (k: string) => gatewayCall(f, target(k), { authorization: `Bearer ${token}` }, { method: 'DELETE' });
  const held = await remove(key);
  assert.equal(held.status, 403, held.body);
  const request = new RegExp(`ApprovalRequest ${f.namespace}/(\\S+) is Pending`).exec(held.body)![1]!;
  const opened = await jsonOf(f.admin, ['get', 'approvalrequest', request, '-n', f.namespace]);
  assert.equal(opened.spec.request.path, target('*'.repeat(20)), 'the path as shown to approvers and stored: masked');
  assert.ok(!JSON.stringify(opened).includes(key), 'nowhere in the ApprovalRequest in clear');
  assert.equal(opened.spec.request.targetSha256, createHash('sha256').update(target(key)).digest('hex'), 'bound to the exact target');
  assert.equal((await approveAs(p, request, 'alice', ['sre-leads'])).code, 0);
  await eventually(async () => assert.equal((await jsonOf(f.admin, ['get', 'approvalrequest', request, '-n', f.namespace])).status?.phase, 'Approved'), 20_000);
  // another value that masks the same: held, even with the approval relabelled to its hash past admission
  const other = await remove(otherKey);
  assert.equal(other.status, 403, other.body);
  const otherRequest = new RegExp(`ApprovalRequest ${f.namespace}/(\\S+) is Pending`).exec(other.body)![1]!;
  assert.notEqual(otherRequest, request);
  const hash = (await jsonOf(f.admin, ['get', 'approvalrequest', otherRequest, '-n', f.namespace])).metadata.labels['kubegate.dev/request-hash'];
  const asGateway = ['--as', `system:serviceaccount:${f.namespace}:kubegate-gateway-prod`, '--as-group', 'system:masters'];
  await f.admin.ok(['label', 'approvalrequest', request, '-n', f.namespace, '--overwrite', `kubegate.dev/request-hash=${hash}`, ...asGateway]);
  assert.equal((await remove(otherKey)).status, 403, 'the masked path matches, the target does not');
  assert.ok(await configMapExists(p, configMap));
  // labelled back, it admits the request it was opened for, once
  await f.admin.ok(['label', 'approvalrequest', request, '-n', f.namespace, '--overwrite', `kubegate.dev/request-hash=${opened.metadata.labels['kubegate.dev/request-hash']}`, ...asGateway]);
  const admitted = await remove(key);
  assert.equal(admitted.status, 200, admitted.body);
  assert.equal(await configMapExists(p, configMap), false);
});

test('a held request is refused with its ApprovalRequest in the Status details, and a retry hint an agent can act on', async () => {
  const { f } = await setup();
  const configMap = uniqueName('cm');
  await f.admin.ok(['create', 'configmap', configMap, '-n', f.target, '--from-literal=k=v']);
  const raw = await gatewayCall(f, `/api/v1/namespaces/${f.target}/configmaps/${configMap}`, { authorization: `Bearer ${f.token}` }, { method: 'DELETE' });
  assert.equal(raw.status, 403);
  const { reason, details } = JSON.parse(raw.body) as { reason: string; details: { name: string } };
  assert.equal(reason, 'Forbidden');
  const name = details.name;
  assert.equal((await jsonOf(f.admin, ['get', 'approvalrequest', name, '-n', f.namespace])).spec.request.verb, 'delete', 'the details name the ApprovalRequest opened');
  const hint = `retry the same request once ApprovalRequest ${f.namespace}/${name} is approved: kubegate approve ${name} -n ${f.namespace}`;
  assert.deepEqual(details, { group: 'kubegate.dev', kind: 'approvalrequests', name, retryAfterSeconds: 10, causes: [{ reason: 'KG_APPROVAL_REQUIRED', message: hint }] });

  // the real kubectl decodes the same details (client-go's StatusDetails; its DeleteOptions body makes it another request, another ApprovalRequest)
  const verbose = await f.bot.run(['delete', 'configmap', configMap, '-n', f.target, '-v=9']);
  assert.notEqual(verbose.code, 0);
  const decoded = verbose.stderr.slice(verbose.stderr.indexOf('server response object'));
  for (const field of [/"name": "delete-configmaps-/, /"kind": "approvalrequests"/, /"retryAfterSeconds": 10/, /"reason": "KG_APPROVAL_REQUIRED",\s*"message": "retry the same request once ApprovalRequest /]) assert.match(decoded, field);
  assert.match(verbose.stderr, /Retry-After: 10/);
});
