/**
 * The CRDs against the real API server: they install and become Established, every sample is accepted
 * (`kubectl apply --dry-run=server`), defaults are applied, bad objects are refused with the message the
 * schema or its CEL rules promise, and `kubectl get` prints the printer columns.
 *
 * The shared test sandbox may also hold kubegate's admission policies (installed by the operator tests),
 * which check who creates grants and decisions. So each object here is sent as the identity it names —
 * the grant's requestedBy, the decision's `by` — impersonated with group system:masters for RBAC, and the
 * samples' SessionPolicy exists in the namespace for the policies that look it up. Schema and CEL
 * validation run before validating admission, so the refusals asserted are the CRDs' own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { apiVersion, group, plurals } from '../../src/api/index.js';
import { packageRoot } from '../../src/util/package-root.js';
import { testCluster } from '../harness/cluster.js';
import type { Kubectl } from '../harness/kubectl.js';

const root = packageRoot();
const flux = 'system:serviceaccount:flux-system:kustomize-controller';

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; [key: string]: unknown };
  spec?: Record<string, unknown> & { requestedBy?: string; decisions?: { by: string }[]; policyRef?: { name: string } };
  [key: string]: unknown;
}

let installed: Promise<Kubectl> | undefined;

/** The admin's kubectl, once the CRDs are installed (with the same field manager as the operator tests). */
function admin(): Promise<Kubectl> {
  installed ??= (async () => {
    const kubectl = await (await testCluster()).kubectl();
    await kubectl.ok(['apply', '--server-side', '-k', join(root, 'crds')]);
    await kubectl.ok(['wait', '--for=condition=Established', '--timeout=60s', ...Object.values(plurals).map((plural) => `crd/${plural}.${group}`)]);
    return kubectl;
  })();
  return installed;
}

/** kubectl flags acting as `user` (with every RBAC right, so that only validation and admission decide). */
function as(user: string, groups: string[] = []): string[] {
  return ['--as', user, ...['system:masters', ...groups].flatMap((g) => ['--as-group', g])];
}

/** Who a sample says created it: a grant's requestedBy, the gateway for a held request, or the approver of its decisions. */
function actor(object: KubeObject): string[] {
  if (object.kind === 'ApprovalRequest' && object.spec?.request) return as(`system:serviceaccount:${object.metadata?.namespace}:kubegate-gateway-${object.spec.policyRef?.name}`);
  const decider = object.spec?.decisions?.[0]?.by;
  if (object.kind === 'ApprovalRequest' && decider) return as(decider, ['sre-leads']);
  if (object.kind === 'AccessGrant' && object.spec?.requestedBy) return as(object.spec.requestedBy);
  return [];
}

function samples(): { file: string; object: KubeObject }[] {
  const dir = join(root, 'samples');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => ({ file: `samples/${file}`, object: d.toJS() as KubeObject })));
}

/** Document `index` of samples/`file`. */
function sample(file: string, index = 0): KubeObject {
  const found = samples().filter((s) => s.file === `samples/${file}`)[index];
  assert.ok(found, `samples/${file} #${index}`);
  return found.object;
}

function inNamespace(object: KubeObject, namespace: string): KubeObject {
  return { ...object, metadata: { ...object.metadata, namespace } };
}

/** A namespace holding the samples' SessionPolicy `prod` (approvers sre-leads, Flux as GitOps applier). */
async function policyNamespace(prefix: string): Promise<string> {
  const namespace = await (await testCluster()).namespace(prefix);
  await (await admin()).ok(['create', '-f', '-'], { input: JSON.stringify(inNamespace(sample('sessionpolicy.yaml'), namespace)) });
  return namespace;
}

const name = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

test('the three CRDs apply, become Established, and answer to their short names and category', async () => {
  const kubectl = await admin();
  for (const plural of Object.values(plurals)) {
    const established = await kubectl.ok(['get', `crd/${plural}.${group}`, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    assert.equal(established, 'True', plural);
  }
  const resources = await kubectl.ok(['api-resources', `--api-group=${group}`, '-o', 'wide', '--no-headers']);
  for (const [kind, shortName] of [['AccessGrant', 'ag'], ['ApprovalRequest', 'ar'], ['SessionPolicy', 'sp']] as const) {
    const line = resources.split('\n').find((l) => l.includes(` ${kind} `));
    assert.ok(line, `${kind} in api-resources:\n${resources}`);
    assert.match(line, new RegExp(`^${plurals[kind]}\\s+${shortName}\\s+${apiVersion.replace('.', '\\.')}\\s+true\\s+${kind}\\s.*\\bkubegate\\b`));
  }
});

test('every sample applies with kubectl apply --dry-run=server', async () => {
  const kubectl = await admin();
  const namespace = await policyNamespace('samples');
  const failures: string[] = [];
  let applied = 0;
  for (const { file, object } of samples()) {
    if (/^kustomize\.config\.k8s\.io\/|\.toolkit\.fluxcd\.io\//.test(object.apiVersion ?? '')) continue; // kustomize files; Flux is not installed
    if (object.kind === 'ApprovalRequest' && Object.keys(object.spec ?? {}).join() === 'decisions') continue; // a server-side-apply patch: next test
    const placed = object.kind === 'Namespace' ? object : inNamespace(object, namespace);
    const result = await kubectl.run(['apply', '--dry-run=server', '-f', '-', ...actor(placed)], { input: JSON.stringify(placed) });
    if (result.code === 0) applied++;
    else failures.push(`${file} ${object.kind}/${object.metadata?.name}: ${result.stderr.trim()}`);
  }
  assert.deepEqual(failures, []);
  assert.ok(applied >= 14, `only ${applied} sample objects applied`);
});

test('defaults: an empty SessionPolicy and a minimal AccessGrant come back filled in', async () => {
  const kubectl = await admin();
  const namespace = await policyNamespace('defaults');
  const policy = { apiVersion, kind: 'SessionPolicy', metadata: { name: 'empty', namespace }, spec: {} };
  const created = JSON.parse(await kubectl.ok(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(policy) }));
  assert.deepEqual(created.spec, {
    gateway: { replicas: 2, port: 8443 },
    defaultAction: 'Allow',
    commands: { mode: 'Guardrails', stdin: 'Checked' },
    masking: { secrets: true },
    recording: { stdin: true, maxBodyBytes: 1048576, onStoreFailure: 'Spool' },
    grants: { maxDuration: '8h', approvalRequired: false },
  });
  const grant = {
    apiVersion,
    kind: 'AccessGrant',
    metadata: { name: 'minimal', namespace },
    spec: { subject: { kind: 'User', name: 'bot' }, reason: 'r', duration: '5m', access: [{ clusterRole: 'view' }], policyRef: { name: 'prod' }, approval: {}, requestedBy: 'kubegate-admin' },
  };
  const grantCreated = JSON.parse(await kubectl.ok(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(grant) }));
  assert.equal(grantCreated.spec.revoked, false);
  assert.deepEqual(grantCreated.spec.approval, { required: false });
});

test('a GitOps decision merges into a pending ApprovalRequest by server-side apply, and cannot be changed after', async () => {
  const kubectl = await admin();
  const namespace = await policyNamespace('gitops');
  const pending = inNamespace(sample('gitops/approvalrequest-pending.yaml'), namespace);
  await kubectl.ok(['create', '-f', '-'], { input: JSON.stringify(pending) });
  await kubectl.ok(['apply', '-f', '-', ...as('carol', ['sre-leads'])], {
    input: JSON.stringify({ ...pending, spec: { ...pending.spec, decisions: [{ decision: 'Approve', by: 'carol', reason: 'looks right' }] } }),
  });
  const decision = inNamespace(sample('gitops/pull-request-decision.yaml'), namespace);
  const ssa = ['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-', ...as(flux)];
  await kubectl.ok(ssa, { input: JSON.stringify(decision) });
  const decisions = JSON.parse(await kubectl.ok(['get', 'ar', pending.metadata!.name!, '-n', namespace, '-o', 'jsonpath={.spec.decisions}']));
  assert.deepEqual(decisions.map((d: { by: string }) => d.by), ['carol', flux]);

  const edited = structuredClone(decision) as unknown as { spec: { decisions: { reason: string }[] } };
  edited.spec.decisions[0]!.reason = 'changed my mind';
  const refused = await kubectl.run(ssa, { input: JSON.stringify(edited) });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /spec\.decisions: Invalid value: .*decisions are append-only; a recorded decision cannot be changed/);
});

interface BadCase {
  name: string;
  /** Created first, as `as`, and must succeed (for the transition cases). */
  create?: KubeObject;
  /** The bad object (created) or, with `create`, a merge patch of it. */
  bad?: KubeObject;
  patch?: object;
  as?: string[];
  message: RegExp;
}

async function assertRefused(namespace: string, cases: BadCase[]): Promise<void> {
  const kubectl = await admin();
  for (const c of cases) {
    let result;
    if (c.create) {
      const object = inNamespace(c.create, namespace);
      await kubectl.ok(['create', '-f', '-', ...(c.as ?? [])], { input: JSON.stringify(object) });
      const resource = `${plurals[object.kind as keyof typeof plurals]}.${group}/${object.metadata!.name}`;
      result = await kubectl.run(['patch', resource, '-n', namespace, '--type=merge', '-p', JSON.stringify(c.patch), ...(c.as ?? [])]);
    } else {
      result = await kubectl.run(['create', '-f', '-', ...(c.as ?? [])], { input: JSON.stringify(inNamespace(c.bad!, namespace)) });
    }
    assert.notEqual(result.code, 0, `${c.name}: accepted`);
    assert.match(result.stderr, c.message, `${c.name}`);
  }
}

test('AccessGrant: bad objects and forbidden changes are refused with a readable message', async () => {
  const namespace = await policyNamespace('ag-bad');
  const requester = 'crd-test@example.com';
  const spec = { subject: { kind: 'User', name: 'deploy-bot' }, reason: 'Roll out (CHG-1)', duration: '30m', access: [{ namespace: 'payments', clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: requester };
  const grant = (changes: Record<string, unknown>, drop: string[] = []): KubeObject => {
    const s: Record<string, unknown> = { ...spec, ...changes };
    for (const key of drop) delete s[key];
    return { apiVersion, kind: 'AccessGrant', metadata: { name: name('grant') }, spec: s };
  };
  const who = as(requester);
  await assertRefused(namespace, [
    { name: 'both duration and expiresAt', bad: grant({ expiresAt: '2030-01-01T00:00:00Z' }), as: who, message: /spec\.expiresAt: Forbidden: duration and expiresAt are mutually exclusive; set only one of them/ },
    { name: 'neither duration nor expiresAt', bad: grant({}, ['duration']), as: who, message: /spec\.duration: Required value: one of duration \(such as 30m\) or expiresAt \(an RFC 3339 time\) is required/ },
    { name: 'duration over the bound', bad: grant({ duration: '169h' }), as: who, message: /spec\.duration: Invalid value: "169h": duration must be at most 168h \(7 days\)/ },
    { name: 'duration not a duration', bad: grant({ duration: 'soon' }), as: who, message: /spec\.duration: Invalid value: "soon": duration must be a positive Go duration such as 30m, 2h or 1h30m/ },
    { name: 'expiresAt not a time', bad: grant({ expiresAt: 'tomorrow' }, ['duration']), as: who, message: /spec\.expiresAt: Invalid value: "tomorrow": spec\.expiresAt in body must be of type date-time/ },
    { name: 'empty reason', bad: grant({ reason: '' }), as: who, message: /spec\.reason: Invalid value: "": spec\.reason in body should be at least 1 chars long/ },
    { name: 'blank reason', bad: grant({ reason: '   ' }), as: who, message: /spec\.reason: Invalid value: " {3}": reason must not be blank/ },
    { name: 'no access', bad: grant({ access: [] }), as: who, message: /spec\.access: Invalid value: 0: spec\.access in body should have at least 1 items/ },
    { name: 'access with neither clusterRole nor role', bad: grant({ access: [{ namespace: 'payments' }] }), as: who, message: /spec\.access\[0\]: Invalid value: .*each access entry names exactly one of clusterRole or role/ },
    { name: 'access with both clusterRole and role', bad: grant({ access: [{ namespace: 'payments', clusterRole: 'edit', role: 'deployer' }] }), as: who, message: /spec\.access\[0\]: Invalid value: .*each access entry names exactly one of clusterRole or role/ },
    { name: 'role without namespace', bad: grant({ access: [{ role: 'deployer' }] }), as: who, message: /spec\.access\[0\]\.namespace: Required value: a Role is namespaced, so an access entry with role needs namespace/ },
    { name: 'ServiceAccount subject without namespace', bad: grant({ subject: { kind: 'ServiceAccount', name: 'ci' } }), as: who, message: /spec\.subject\.namespace: Required value: a ServiceAccount subject needs namespace/ },
    { name: 'User subject with namespace', bad: grant({ subject: { kind: 'User', name: 'bot', namespace: 'ci' } }), as: who, message: /spec\.subject\.namespace: Forbidden: namespace applies only to a ServiceAccount subject/ },
    // names the operator puts in API paths (the kubeconfig Secret's namespace, the bindings'): a label, nothing a URL folds
    { name: 'ServiceAccount namespace that is a path', bad: grant({ subject: { kind: 'ServiceAccount', name: 'ci', namespace: 'kube-system/secrets#' } }), as: who, message: /spec\.subject\.namespace: Invalid value: "kube-system\/secrets#": spec\.subject\.namespace in body should match/ },
    { name: 'access namespace that is a dot segment', bad: grant({ access: [{ namespace: '..', clusterRole: 'view' }] }), as: who, message: /spec\.access\[0\]\.namespace: Invalid value: "\.\.": spec\.access\[0\]\.namespace in body should match/ },
    { name: 'unknown subject kind', bad: grant({ subject: { kind: 'Robot', name: 'bot' } }), as: who, message: /spec\.subject\.kind: Unsupported value: "Robot": supported values: "User", "Group", "ServiceAccount"/ },
    { name: 'name longer than a label value', bad: { ...grant({}), metadata: { name: `g${'x'.repeat(63)}` } }, as: who, message: /metadata\.name: Too long: may not be (longer|more) than 63/ },
    { name: 'changing the subject', create: grant({}), patch: { spec: { subject: { kind: 'User', name: 'someone-else' } } }, as: who, message: /spec\.subject: Invalid value: .*subject is immutable; create a new grant for another subject/ },
    { name: 'changing the access', create: grant({}), patch: { spec: { access: [{ clusterRole: 'cluster-admin' }] } }, as: who, message: /spec\.access: Invalid value: .*access is immutable/ },
    { name: 'extending the duration', create: grant({}), patch: { spec: { duration: '8h' } }, as: who, message: /spec\.duration: Invalid value: .*duration is immutable/ },
    { name: 'switching duration for expiresAt', create: grant({}), patch: { spec: { duration: null, expiresAt: '2030-01-01T00:00:00Z' } }, as: who, message: /spec\.duration: Invalid value: .*duration is immutable/ },
    { name: 'changing requestedBy', create: grant({}), patch: { spec: { requestedBy: 'mallory' } }, as: who, message: /spec\.requestedBy: Invalid value: .*requestedBy is immutable/ },
    { name: 'turning approval off', create: grant({ approval: { required: true } }), patch: { spec: { approval: { required: false } } }, as: who, message: /spec\.approval: Invalid value: .*approval is immutable/ },
    { name: 'un-revoking', create: grant({ revoked: true }), patch: { spec: { revoked: false } }, as: who, message: /spec\.revoked: Invalid value: .*a revoked grant stays revoked; create a new grant to give access again/ },
    { name: 'un-revoking by removing the field', create: grant({ revoked: true }), patch: { spec: { revoked: null } }, as: who, message: /a revoked grant stays revoked/ },
  ]);

  // what stays allowed: revoking, and pointing the kubeconfig at another Secret
  const kubectl = await admin();
  const ok = inNamespace(grant({ kubeconfigSecret: 'bot-kubeconfig' }), namespace);
  await kubectl.ok(['create', '-f', '-', ...who], { input: JSON.stringify(ok) });
  await kubectl.ok(['patch', 'ag', ok.metadata!.name!, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true,"kubeconfigSecret":"bot-kubeconfig-2"}}', ...who]);
});

test('ApprovalRequest: bad objects, and any change to a recorded decision, are refused with a readable message', async () => {
  const namespace = await policyNamespace('ar-bad');
  const request = (spec: Record<string, unknown>, drop: string[] = []): KubeObject => {
    const s: Record<string, unknown> = {
      policyRef: { name: 'prod' },
      target: { kind: 'AccessGrant', name: 'deploy-bot-payments' },
      requester: 'alice',
      subject: 'deploy-bot',
      reason: 'Roll out (CHG-1)',
      expiresAt: '2030-01-01T00:00:00Z',
      ...spec,
    };
    for (const key of drop) delete s[key];
    return { apiVersion, kind: 'ApprovalRequest', metadata: { name: name('request') }, spec: s };
  };
  const approved = () => request({ decisions: [{ decision: 'Approve', by: 'bob', reason: 'checked', at: '2026-03-02T09:00:00Z' }] });
  const bob = as('bob', ['sre-leads']);
  const held = { verb: 'create', path: '/api/v1/namespaces/kube-system/pods/p/exec?command=ls', subresource: 'exec' };
  await assertRefused(namespace, [
    { name: 'neither target nor request', bad: request({}, ['target']), message: /spec\.target: Required value: one of target \(an AccessGrant\) or request \(a single API request\) is required/ },
    { name: 'both target and request', bad: request({ request: held }), message: /spec\.request: Forbidden: target and request are mutually exclusive/ },
    { name: 'a request approval without a policy', bad: request({ request: held }, ['target', 'policyRef']), message: /spec\.policyRef: Required value: an approval for a request needs policyRef/ },
    { name: 'a bad body hash', bad: request({ request: { ...held, bodySha256: 'abc' } }, ['target']), message: /spec\.request\.bodySha256: Invalid value: "abc": spec\.request\.bodySha256 in body should match/ },
    { name: 'a bad decision value', bad: request({ decisions: [{ decision: 'Maybe', by: 'bob', reason: 'hmm' }] }), as: bob, message: /spec\.decisions\[0\]\.decision: Unsupported value: "Maybe": supported values: "Approve", "Deny"/ },
    { name: 'a decision without a reason', bad: request({ decisions: [{ decision: 'Approve', by: 'bob' }] }), as: bob, message: /spec\.decisions\[0\]\.reason: Required value/ },
    { name: 'two decisions by one approver', bad: request({ decisions: [{ decision: 'Approve', by: 'bob', reason: 'a' }, { decision: 'Deny', by: 'bob', reason: 'b' }] }), as: bob, message: /spec\.decisions\[1\]: Duplicate value: .*"by":"bob"/ },
    { name: 'removing a decision', create: approved(), as: bob, patch: { spec: { decisions: [] } }, message: /spec\.decisions: Invalid value: .*decisions are append-only; a recorded decision cannot be removed/ },
    { name: 'removing all decisions', create: approved(), as: bob, patch: { spec: { decisions: null } }, message: /decisions are append-only; a recorded decision cannot be removed/ },
    { name: 'replacing a decision by another', create: approved(), as: bob, patch: { spec: { decisions: [{ decision: 'Approve', by: 'carol', reason: 'x' }] } }, message: /a recorded decision cannot be removed/ },
    { name: 'turning an approval into a denial', create: approved(), as: bob, patch: { spec: { decisions: [{ decision: 'Deny', by: 'bob', reason: 'checked', at: '2026-03-02T09:00:00Z' }] } }, message: /spec\.decisions: Invalid value: .*decisions are append-only; a recorded decision cannot be changed/ },
    { name: 'rewording a decision', create: approved(), as: bob, patch: { spec: { decisions: [{ decision: 'Approve', by: 'bob', reason: 'rubber-stamped', at: '2026-03-02T09:00:00Z' }] } }, message: /a recorded decision cannot be changed/ },
    { name: 'retargeting', create: request({}), patch: { spec: { target: { kind: 'AccessGrant', name: 'other' } } }, message: /spec\.target: Invalid value: .*target is immutable/ },
    { name: 'extending the deadline', create: request({}), patch: { spec: { expiresAt: '2031-01-01T00:00:00Z' } }, message: /spec\.expiresAt: Invalid value: .*expiresAt is immutable/ },
  ]);

  // what stays allowed: appending a decision
  const kubectl = await admin();
  const ok = inNamespace(approved(), namespace);
  await kubectl.ok(['create', '-f', '-', ...bob], { input: JSON.stringify(ok) });
  const appended = [...(ok.spec!.decisions as object[]), { decision: 'Approve', by: 'carol', reason: 'agreed' }];
  await kubectl.ok(['patch', 'ar', ok.metadata!.name!, '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { decisions: appended } }), ...as('carol', ['sre-leads'])]);
});

test('SessionPolicy: bad objects are refused with a readable message', async () => {
  const namespace = await (await testCluster()).namespace('sp-bad');
  const policy = (spec: Record<string, unknown>): KubeObject => ({ apiVersion, kind: 'SessionPolicy', metadata: { name: name('policy') }, spec });
  const rule = { name: 'no-exec', match: { subresources: ['exec'] }, action: 'Deny' };
  const idp = (url: string) => ({ issuer: { url, audiences: ['kubegate'] }, claimMappings: { username: { claim: 'email', prefix: '' } } });
  await assertRefused(namespace, [
    { name: 'unknown action', bad: policy({ rules: [{ ...rule, action: 'Block' }] }), message: /spec\.rules\[0\]\.action: Unsupported value: "Block": supported values: "Allow", "Deny", "RequireApproval", "Mask"/ },
    { name: 'unknown default action', bad: policy({ defaultAction: 'Mask' }), message: /spec\.defaultAction: Unsupported value: "Mask": supported values: "Allow", "Deny", "RequireApproval"/ },
    { name: 'duplicate rule names', bad: policy({ rules: [rule, { ...rule, action: 'Allow' }] }), message: /spec\.rules\[1\]: Duplicate value: .*"name":"no-exec"/ },
    { name: 'rule name not a DNS label', bad: policy({ rules: [{ ...rule, name: 'No_Exec' }] }), message: /spec\.rules\[0\]\.name: Invalid value: "No_Exec": spec\.rules\[0\]\.name in body should match/ },
    { name: 'rule without match', bad: policy({ rules: [{ name: 'x', action: 'Deny' }] }), message: /spec\.rules\[0\]\.match: Required value/ },
    { name: 'minApprovals 0', bad: policy({ approvers: { groups: ['sre-leads'], minApprovals: 0 } }), message: /spec\.approvers\.minApprovals: Invalid value: 0: spec\.approvers\.minApprovals in body should be greater than or equal to 1/ },
    { name: 'approvers naming a gateway user', bad: policy({ approvers: { users: ['kubegate:user:alice@example.com'] } }), message: /spec\.approvers\.users\[0\]: Invalid value: "kubegate:user:alice@example\.com": approvers may not name a kubegate:… identity/ },
    { name: 'approvers naming a grant group', bad: policy({ approvers: { groups: ['sre-leads', 'kubegate:grant:ops:fix'] } }), message: /spec\.approvers\.groups\[1\]: Invalid value: "kubegate:grant:ops:fix": approvers may not name a kubegate:… identity/ },
    { name: 'appliers naming a gateway user', bad: policy({ gitops: { appliers: ['kubegate:user:flux'] } }), message: /spec\.gitops\.appliers\[0\]: Invalid value: "kubegate:user:flux": appliers may not name a kubegate:… identity/ },
    { name: 'approvers naming nobody', bad: policy({ approvers: { minApprovals: 1 } }), message: /spec\.approvers: Invalid value: .*approvers must name at least one group or user/ },
    { name: 'bad iamRoleArn', bad: policy({ gateway: { iamRoleArn: 'arn:aws:iam::1234:user/bob' } }), message: /spec\.gateway\.iamRoleArn: Invalid value: "arn:aws:iam::1234:user\/bob": iamRoleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role\/kubegate-gateway/ },
    { name: 'bad storage URL scheme', bad: policy({ gateway: { storage: { url: 'gs://bucket/prefix' } } }), message: /spec\.gateway\.storage\.url: Invalid value: "gs:\/\/bucket\/prefix": storage\.url must be s3:\/\/BUCKET\/PREFIX or file:\/\/DIR/ },
    { name: 'bad storage endpoint', bad: policy({ gateway: { storage: { url: 's3://bucket', endpoint: 'minio:9000' } } }), message: /storage\.endpoint must be an http\(s\) URL/ },
    { name: 'too many replicas', bad: policy({ gateway: { replicas: 21 } }), message: /spec\.gateway\.replicas: Invalid value: 21: spec\.gateway\.replicas in body should be less than or equal to 20/ },
    { name: 'bad resource quantity', bad: policy({ gateway: { resources: { limits: { memory: '1 GB' } } } }), message: /spec\.gateway\.resources\.limits\.memory: Invalid value: "1 GB": spec\.gateway\.resources\.limits\.memory in body should match/ },
    { name: 'maxBodyBytes negative', bad: policy({ recording: { maxBodyBytes: -1 } }), message: /spec\.recording\.maxBodyBytes: Invalid value: -1: spec\.recording\.maxBodyBytes in body should be greater than or equal to 0/ },
    { name: 'maxBodyBytes over 64 MiB', bad: policy({ recording: { maxBodyBytes: 67108865 } }), message: /spec\.recording\.maxBodyBytes in body should be less than or equal to 67108864/ },
    { name: 'unknown onStoreFailure', bad: policy({ recording: { onStoreFailure: 'Drop' } }), message: /spec\.recording\.onStoreFailure: Unsupported value: "Drop": supported values: "Spool", "FailClosed"/ },
    { name: 'retention without days', bad: policy({ recording: { retention: { mode: 'Governance' } } }), message: /spec\.recording\.retention\.days: Required value/ },
    { name: 'maxDuration over a week', bad: policy({ grants: { maxDuration: '200h' } }), message: /spec\.grants\.maxDuration: Invalid value: "200h": maxDuration must be at most 168h/ },
    { name: 'identity provider over http', bad: policy({ identityProviders: [idp('http://idp.example.com')] }), message: /issuer\.url must be an https URL without query or fragment/ },
    { name: 'identity provider twice', bad: policy({ identityProviders: [idp('https://idp.example.com'), idp('https://idp.example.com')] }), message: /each identity provider's issuer\.url must be unique/ },
    { name: 'identity provider without audiences', bad: policy({ identityProviders: [{ ...idp('https://idp.example.com'), issuer: { url: 'https://idp.example.com', audiences: [] } }] }), message: /spec\.identityProviders\[0\]\.issuer\.audiences: Invalid value: 0: spec\.identityProviders\[0\]\.issuer\.audiences in body should have at least 1 items/ },
    { name: 'username mapping without prefix', bad: policy({ identityProviders: [{ ...idp('https://idp.example.com'), claimMappings: { username: { claim: 'email' } } }] }), message: /spec\.identityProviders\[0\]\.claimMappings\.username\.prefix: Required value/ },
  ]);
});

test('kubectl get prints the printer columns', async () => {
  const kubectl = await admin();
  const namespace = await policyNamespace('columns');
  const grant = inNamespace(sample('accessgrant.yaml'), namespace);
  await kubectl.ok(['create', '-f', '-', ...actor(grant)], { input: JSON.stringify(grant) });
  const request = inNamespace(sample('approvalrequest.yaml'), namespace);
  await kubectl.ok(['create', '-f', '-', ...actor(request)], { input: JSON.stringify(request) });

  const table = async (resource: string, name: string, wide = false) => {
    const out = await kubectl.ok(['get', resource, name, '-n', namespace, ...(wide ? ['-o', 'wide'] : [])]);
    const [header = '', row = ''] = out.trim().split('\n');
    return { header: header.split(/\s{2,}/), row };
  };
  const ag = await table('ag', 'deploy-bot-payments');
  assert.deepEqual(ag.header, ['NAME', 'PHASE', 'SUBJECT', 'EXPIRES', 'POLICY', 'AGE']);
  assert.match(ag.row, /^deploy-bot-payments\s.*\bdeploy-bot\s.*\bprod\s/);
  assert.deepEqual((await table('ag', 'deploy-bot-payments', true)).header, ['NAME', 'PHASE', 'SUBJECT', 'EXPIRES', 'POLICY', 'AGE', 'KIND', 'REASON']);

  const ar = await table('ar', 'deploy-bot-payments-x7k2');
  assert.deepEqual(ar.header, ['NAME', 'PHASE', 'TARGET', 'REQUESTER', 'EXPIRES', 'AGE']);
  assert.match(ar.row, /^deploy-bot-payments-x7k2\s.*\bdeploy-bot-payments\s+alice@example\.com\s+2030-03-02T10:30:00Z\s/);
  assert.deepEqual((await table('ar', 'deploy-bot-payments-x7k2', true)).header, ['NAME', 'PHASE', 'TARGET', 'REQUESTER', 'EXPIRES', 'AGE', 'APPROVALS', 'VERB', 'PATH', 'REASON']);

  const sp = await table('sp', 'prod');
  assert.deepEqual(sp.header, ['NAME', 'DEFAULT', 'READY', 'VERSION', 'AGE']);
  assert.match(sp.row, /^prod\s+Allow\s/);
  assert.deepEqual((await table('sp', 'prod', true)).header, ['NAME', 'DEFAULT', 'READY', 'VERSION', 'AGE', 'ADDRESS', 'STORE']);

  // the category lists all three kinds
  const all = await kubectl.ok(['get', 'kubegate', '-n', namespace, '-o', 'name']);
  for (const expected of [`accessgrant.${group}/deploy-bot-payments`, `approvalrequest.${group}/deploy-bot-payments-x7k2`, `sessionpolicy.${group}/prod`]) {
    assert.ok(all.split('\n').includes(expected), `${expected} in:\n${all}`);
  }
});
