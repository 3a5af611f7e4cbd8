/**
 * The access ledger with the real operator, admission policies, gateway, kubectl and the sandbox's MinIO
 * (object lock on): a grant approved by a merged pull request and then revoked keeps its ledger — and
 * the report its approver — after the AccessGrant and the ApprovalRequest are deleted; a grant deleted
 * while the store, or the operator, is down reaches the ledger once it is back; `replay --as-recorded` sends a
 * session's calls as the recorded identity with the grant's bindings from the ledger, so a call the grant
 * did not allow is refused in the replay too.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/recording/open-store.js';
import { chainProblems, readEntries, type StoredEntry } from '../../src/recording/ledger.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { loadKeyRing } from '../../src/audit/evidence-check.js';
import type { ReplayReport } from '../../src/audit/replay/report.js';
import type { GrantSection } from '../../src/audit/report/report.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { jitKubeconfig, sandboxS3Env, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { serviceAccountToken, startOperator, type RunningOperator } from '../harness/operator.js';
import { TcpRelay } from '../harness/tcp-relay.js';
import { eventually } from '../harness/workloads.js';
import { runKubegate } from '../harness/kubegate-process.js';

const flux = 'system:serviceaccount:flux-system:kustomize-controller';
let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
let relay: TcpRelay | undefined;
after(async () => {
  await relay?.cut();
  await gateway?.stop();
  await operator?.stop();
});

const kubegate = (args: string[], env: NodeJS.ProcessEnv) => runKubegate(args, { env });

interface Setup {
  cluster: TestCluster;
  admin: Kubectl;
  namespace: string;
  target: string;
  /** The policy's store (sessions and ledger), and the settings that reach it. */
  storeUrl: string;
  store: RecordingStore;
  env: NodeJS.ProcessEnv;
}

/** A policy whose gateway records to a fresh prefix of the sandbox's MinIO (reached at `endpoint`), under GOVERNANCE retention. */
async function setup(policy: string, endpoint?: string): Promise<Setup> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  const admin = await cluster.kubectl();
  const namespace = await cluster.namespace('ledger');
  const target = await cluster.namespace('ledger-target');
  const storeUrl = `s3://${cluster.state.s3.bucket}/${uniqueName('ledger')}`;
  const storage = { url: storeUrl, endpoint: endpoint ?? cluster.state.s3.endpoint };
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, policy, { gateway: { replicas: 1, storage }, recording: { retention: { mode: 'Governance', days: 1 } } })) });
  const env = sandboxS3Env(cluster);
  return { cluster, admin, namespace, target, storeUrl, store: openStore(storeUrl, { env }), env };
}

async function jsonOf(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

/** Every chain in the store's ledger, by the kind and name of its object. */
async function chains(store: RecordingStore): Promise<Map<string, StoredEntry[]>> {
  const byObject = new Map<string, StoredEntry[]>();
  for (const stored of await readEntries(store, 'ledger/')) {
    const key = `${stored.entry.kind}/${stored.entry.name}`;
    byObject.set(key, [...(byObject.get(key) ?? []), stored]);
  }
  return byObject;
}

const ids = (chain: StoredEntry[] | undefined) => (chain ?? []).map((stored) => stored.entry.id);

async function createGrant(s: Setup, name: string, policy: string, extra: Record<string, unknown> = {}): Promise<string> {
  const subject = uniqueName('ledger-bot');
  await s.admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(s.namespace, name, { subject: { kind: 'User', name: subject }, duration: '1h', access: [{ namespace: s.target, clusterRole: 'edit' }], policyRef: { name: policy }, requestedBy: 'kubegate-admin', ...extra })),
  });
  return subject;
}

const phaseOf = async (s: Setup, name: string) => (await s.admin.ok(['get', 'accessgrant', name, '-n', s.namespace, '-o', 'jsonpath={.status.phase}'])).trim();

test('invariant 5: the ledger of a grant that was approved by a merged pull request and later revoked survives the deletion of the AccessGrant and ApprovalRequest objects, and the report still shows who approved it', async () => {
  const s = await setup('audited');
  const { cluster, admin, namespace } = s;
  const asFlux = new Kubectl(cluster.state.binaries.kubectl, cluster.kubeconfigFile(await serviceAccountToken(cluster, 'flux-system', 'kustomize-controller')));
  await admin.run(['create', 'clusterrolebinding', 'flux-cluster-admin', '--clusterrole=cluster-admin', '--serviceaccount=flux-system:kustomize-controller']);
  const grant = uniqueName('pr-approved');
  const subject = await createGrant(s, grant, 'audited', { approval: { required: true }, reason: 'ledger survives (CHG-9)' });
  let request = '';
  await eventually(async () => {
    request = (await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.approvalRequest}'])).trim();
    assert.ok(request);
  }, 20_000);
  const pullRequest = { url: 'https://git.example.com/platform/access/pull/77', author: 'carol', approvers: ['bob'], mergedAt: new Date().toISOString() };
  await eventually(async () => {
    await asFlux.ok(['patch', 'approvalrequest', request, '-n', namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/decisions', value: [{ decision: 'Approve', by: flux, reason: 'merged', pullRequest }] }])]);
  });
  await eventually(async () => assert.equal(await phaseOf(s, grant), 'Active'), 60_000);

  gateway = await startGateway(cluster, { namespace, name: 'audited' }, { store: s.storeUrl, env: s.env });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
  await eventually(async () => void (await bot.ok(['create', 'configmap', 'under-ledger', '-n', s.target, '--from-literal=a=b'])), 20_000);
  await gateway.stop();
  gateway = undefined;

  await admin.ok(['patch', 'accessgrant', grant, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  await eventually(async () => assert.equal(await phaseOf(s, grant), 'Revoked'), 20_000);
  // kubectl delete waits for the finalizers: each is removed once the "deleted" entry is in the store
  await admin.ok(['delete', 'approvalrequest', request, '-n', namespace, '--timeout=60s']);
  await admin.ok(['delete', 'accessgrant', grant, '-n', namespace, '--timeout=60s']);
  assert.match((await admin.run(['get', 'accessgrant', grant, '-n', namespace])).stderr, /NotFound/);

  const ledger = await chains(s.store);
  const grantChain = ledger.get(`AccessGrant/${grant}`)!;
  const approvalChain = ledger.get(`ApprovalRequest/${request}`)!;
  assert.deepEqual(ids(grantChain), ['created', 'activated', 'revoked', 'deleted']);
  assert.deepEqual(ids(approvalChain), ['created', 'decision-0', 'approved', 'deleted']);
  // each entry signed with the policy's recording key, whose public half the store publishes (invariant 8)
  const ring = await loadKeyRing(s.store);
  assert.ok([...grantChain, ...approvalChain].every(({ entry }) => entry.signature !== undefined), 'every entry is signed');
  assert.deepEqual([...chainProblems(grantChain, ring), ...chainProblems(approvalChain, ring)], []);
  const decision = approvalChain[1]!.entry;
  assert.deepEqual([decision.actor, decision.decision, decision.pullRequest], [flux, 'Approve', pullRequest]);
  assert.deepEqual(grantChain[1]!.entry.bindings?.map((b) => [b.kind, b.namespace, b.roleRef.name]), [['RoleBinding', s.target, 'edit']]);
  for (const { key } of [...grantChain, ...approvalChain]) assert.equal((await s.store.head(key))?.retention?.mode, 'GOVERNANCE', `${key} is under the policy's object lock`);

  // the report, with no cluster to ask: everything from the ledger
  const report = await kubegate(['report', '--store', s.storeUrl, '--since', '1h', '--subject', subject, '-o', 'json'], s.env);
  assert.equal(report.code, 0, report.stderr);
  const parsed = JSON.parse(report.stdout) as { report: { grantSource: string }; grants: { grant: GrantSection }[] };
  assert.equal(parsed.report.grantSource, `the access ledger in ${s.storeUrl}`);
  const record = parsed.grants[0]!.grant.record!;
  assert.deepEqual(
    { source: record.source, phase: record.phase, requester: record.requester, reason: record.reason, approvalRequest: record.approvalRequest, decisions: record.decisions.map(({ decision, by, pullRequest }) => ({ decision, by, pullRequest })) },
    { source: 'ledger', phase: 'Revoked', requester: 'kubegate-admin', reason: 'ledger survives (CHG-9)', approvalRequest: request, decisions: [{ decision: 'Approve', by: flux, pullRequest: pullRequest.url }] },
  );
  // in order, to the second (a deletionTimestamp has no fraction)
  const second = (time: string | undefined) => (time ?? '').slice(0, 19);
  assert.ok(record.activatedAt && record.revokedAt && record.deletedAt && second(record.activatedAt) <= second(record.revokedAt) && second(record.revokedAt) <= second(record.deletedAt), JSON.stringify(record));
});

test('a grant deleted while the store is unreachable reaches the ledger once the store is back; its access goes at once', async () => {
  const cluster = await testCluster();
  relay = await TcpRelay.start(cluster.state.s3.endpoint);
  const s = await setup('flaky', relay.url);
  const grant = uniqueName('deleted-offline');
  await createGrant(s, grant, 'flaky');
  await eventually(async () => assert.deepEqual(ids((await chains(s.store)).get(`AccessGrant/${grant}`)), ['created', 'activated']), 20_000);
  const uid = (await jsonOf(s.admin, ['get', 'accessgrant', grant, '-n', s.namespace])).metadata.uid as string;

  await relay.cut();
  await s.admin.ok(['delete', 'accessgrant', grant, '-n', s.namespace, '--wait=false']);
  await eventually(async () => assert.match(operator!.logs(), new RegExp(`writing the access ledger of AccessGrant ${s.namespace}/${grant} to ${s.storeUrl}`)), 30_000);
  const held = await jsonOf(s.admin, ['get', 'accessgrant', grant, '-n', s.namespace]);
  assert.ok(held.metadata.deletionTimestamp && held.metadata.finalizers.includes('kubegate.dev/bindings'), 'the finalizer holds the grant while its ledger cannot be written');
  assert.equal((await s.admin.ok(['get', 'rolebindings', '-n', s.target, '-l', `kubegate.dev/grant=${uid}`, '-o', 'name'])).trim(), '', 'its bindings are gone all the same');

  await relay.restore();
  await eventually(async () => assert.match((await s.admin.run(['get', 'accessgrant', grant, '-n', s.namespace])).stderr, /NotFound/), 60_000);
  const chain = (await chains(s.store)).get(`AccessGrant/${grant}`)!;
  assert.deepEqual(ids(chain), ['created', 'activated', 'deleted']);
  assert.deepEqual(chainProblems(chain), []);
});

test('a grant deleted while the operator is down reaches the ledger when it starts again', async () => {
  const s = await setup('restarted');
  const grant = uniqueName('deleted-unwatched');
  await createGrant(s, grant, 'restarted');
  await eventually(async () => assert.deepEqual(ids((await chains(s.store)).get(`AccessGrant/${grant}`)), ['created', 'activated']), 20_000);
  await operator!.stop();
  await s.admin.ok(['delete', 'accessgrant', grant, '-n', s.namespace, '--wait=false']);
  assert.ok((await jsonOf(s.admin, ['get', 'accessgrant', grant, '-n', s.namespace])).metadata.deletionTimestamp, 'held by its finalizer while no operator runs');
  operator = await startOperator(s.cluster);
  await eventually(async () => assert.match((await s.admin.run(['get', 'accessgrant', grant, '-n', s.namespace])).stderr, /NotFound/), 30_000);
  assert.deepEqual(ids((await chains(s.store)).get(`AccessGrant/${grant}`)), ['created', 'activated', 'deleted']);
});

test('invariant 4: replay --as-recorded sends a session as the recorded identity with the grant\'s bindings from the ledger: a call the grant did not allow is refused in the replay too', async () => {
  const s = await setup('replayed');
  const { cluster, admin, namespace, target } = s;
  const other = await cluster.namespace('not-granted');
  const grant = uniqueName('replayer');
  const subject = await createGrant(s, grant, 'replayed');
  await eventually(async () => assert.equal(await phaseOf(s, grant), 'Active'), 60_000);
  gateway = await startGateway(cluster, { namespace, name: 'replayed' }, { store: s.storeUrl, env: s.env });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
  await eventually(async () => void (await bot.ok(['auth', 'can-i', 'create', 'configmaps', '-n', target])), 20_000);
  await bot.ok(['create', 'configmap', 'granted', '-n', target, '--from-literal=a=b']);
  const refused = await bot.run(['create', 'configmap', 'not-granted', '-n', other, '--from-literal=a=b']);
  assert.match(refused.stderr, /forbidden/, 'the API server refused it: the grant binds edit in the target namespace only');
  await gateway.stop();
  gateway = undefined;
  // the grant ends (its bindings with it) and the ConfigMap goes: the replay must bring back both the access and the object
  await admin.ok(['patch', 'accessgrant', grant, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  await eventually(async () => assert.equal(await phaseOf(s, grant), 'Revoked'), 20_000);
  await admin.ok(['delete', 'configmap', 'granted', '-n', target]);

  const replay = (extra: string[]) => kubegate(['replay', '--store', s.storeUrl, '--subject', subject, '--since', '1h', '--to', cluster.state.kubeconfig, '--i-understand', '-o', 'json', ...extra], s.env);
  const recorded = await replay(['--as-recorded']);
  assert.equal(recorded.code, 0, recorded.stderr + recorded.stdout);
  const report = JSON.parse(recorded.stdout) as ReplayReport;
  assert.equal(report.as, 'recorded');
  const [identity] = report.identities!;
  assert.deepEqual({ ...identity, bindings: identity!.bindings!.map((b) => [b.path.replace(/[^/]+$/, 'NAME'), b.status]) }, {
    grant: `${namespace}/${grant}`, as: 'recorded', user: `kubegate:user:${subject}`, groups: [`kubegate:grant:${namespace}:${grant}`],
    bindings: [[`/apis/rbac.authorization.k8s.io/v1/namespaces/${target}/rolebindings/NAME`, 201]],
  });
  assert.deepEqual(report.calls.map((call) => [call.call, call.as, call.recordedStatus, call.replayedStatus, call.outcome]), [
    [`create configmaps ${target}`, `kubegate:user:${subject}`, 201, 201, 'reproduced'],
    [`create configmaps ${other}`, `kubegate:user:${subject}`, 403, 403, 'reproduced'],
  ]);
  assert.equal((await admin.run(['get', 'configmap', 'not-granted', '-n', other])).code, 1, 'the refused call made nothing');

  // the same replay as admin (the ConfigMap removed again): the call the grant did not allow goes through, and differs
  await admin.ok(['delete', 'configmap', 'granted', '-n', target]);
  const asAdmin = await replay([]);
  assert.equal(asAdmin.code, 1, asAdmin.stdout);
  const adminReport = JSON.parse(asAdmin.stdout) as ReplayReport;
  assert.equal(adminReport.as, 'admin');
  assert.deepEqual(adminReport.calls.map((call) => [call.recordedStatus, call.replayedStatus, call.outcome]), [[201, 201, 'reproduced'], [403, 201, 'differed']]);
  await admin.ok(['delete', 'rolebindings', '-n', target, '-l', 'app.kubernetes.io/managed-by=kubegate-replay']);
});
