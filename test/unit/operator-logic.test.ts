import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateApproval } from '../../src/operator/approval.js';
import { desiredBindings } from '../../src/operator/grant-bindings.js';
import { childFields, withoutManagedFields } from '../../src/operator/cached-fields.js';
import { desiredImpersonation, impersonationShard, impersonationShards, liveEventsReviews, type ImpersonatedIdentity } from '../../src/operator/gateway-children.js';
import { grantGroup, impersonatedUser } from '../../src/api/identity.js';
import { parseDuration, formatDuration } from '../../src/util/duration.js';
import { compilePolicy, validatePolicy } from '../../src/policy/compile.js';
import type * as k8s from '@kubernetes/client-node';
import type { SessionPolicy } from '../../src/api/index.js';

const now = new Date('2026-11-25T12:00:00Z');
const base = { requester: 'deploy-bot', subject: 'deploy-bot', expiresAt: '2026-11-25T13:00:00Z' };

test('approval: enough distinct approvers approve; any denial denies; requester votes do not count; undecided expires', () => {
  const rules = { minApprovals: 2, appliers: ['system:serviceaccount:flux-system:kustomize-controller'] };
  assert.equal(evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: 'alice' }] }, rules, now).phase, 'Pending');
  assert.equal(evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: 'alice' }, { decision: 'Approve', by: 'bob' }] }, rules, now).phase, 'Approved');
  assert.equal(evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: 'alice' }, { decision: 'Approve', by: 'deploy-bot' }] }, rules, now).phase, 'Pending');
  assert.equal(evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: 'alice' }, { decision: 'Deny', by: 'carol', reason: 'no' }, { decision: 'Approve', by: 'bob' }] }, rules, now).phase, 'Denied');
  assert.equal(evaluateApproval({ ...base, decisions: [] }, rules, new Date('2026-11-25T13:00:00Z')).phase, 'Expired');
  const merged = evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: rules.appliers[0]!, pullRequest: { url: 'https://git.example/pr/7' } }] }, rules, now);
  assert.equal(merged.phase, 'Approved');
  assert.equal(merged.reason, 'PullRequestMerged');
  // a pull request decision by someone who is not an applier is just one approval
  assert.equal(evaluateApproval({ ...base, decisions: [{ decision: 'Approve', by: 'mallory', pullRequest: { url: 'x' } }] }, rules, now).phase, 'Pending');
});

test('bindings bind only the grant group; names are unique per grant and entry', () => {
  const grant = { namespace: 'kubegate-system', name: 'deploy-bot-payments', uid: 'uid-1' };
  const bindings = desiredBindings(grant, [{ namespace: 'payments', clusterRole: 'edit' }, { clusterRole: 'view' }, { namespace: 'payments', role: 'deployer' }]);
  assert.deepEqual(bindings.map((b) => b.kind), ['RoleBinding', 'ClusterRoleBinding', 'RoleBinding']);
  for (const binding of bindings) {
    assert.deepEqual(binding.subjects, [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'kubegate:grant:kubegate-system:deploy-bot-payments' }]);
    assert.equal(binding.metadata?.labels?.['kubegate.dev/grant'], 'uid-1');
  }
  assert.equal(bindings[2]!.roleRef.kind, 'Role');
  assert.equal(new Set(bindings.map((b) => b.metadata?.name)).size, 3);
  assert.equal(grantGroup(grant.namespace, grant.name), 'kubegate:grant:kubegate-system:deploy-bot-payments');
});

test('impersonation is exactly as wide as the active grants, sharded by subject, and empty without one (the live endpoint’s reviews stay)', () => {
  const policy = { metadata: { name: 'prod', namespace: 'kubegate-system', uid: 'p' }, spec: {} } as unknown as SessionPolicy;
  const roles = (identities: ImpersonatedIdentity[]) => desiredImpersonation(policy, identities).filter((o): o is k8s.V1ClusterRole => o.kind === 'ClusterRole');
  const none = roles([]);
  assert.equal(none.length, 1 + impersonationShards);
  assert.deepEqual(none[0]!.rules, liveEventsReviews);
  assert.equal(none[0]!.metadata!.name, 'kubegate-gateway-kubegate-system-prod-impersonate');
  assert.ok(none.slice(1).every((role) => role.rules!.length === 0), 'no grants: no impersonation rule at all');

  const identities = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((name) => ({ user: `kubegate:user:${name}`, group: `kubegate:grant:kubegate-system:${name}` }));
  const twice = { user: 'kubegate:user:a', group: 'kubegate:grant:kubegate-system:a-again' };
  const sharded = roles([...identities, twice]);
  for (const role of sharded.slice(1)) {
    const names = (resource: string) => role.rules!.find((r) => r.resources?.includes(resource))?.resourceNames ?? [];
    const shard = Number.parseInt(role.metadata!.name!.split('-').at(-1)!, 16);
    assert.deepEqual(names('users'), [...new Set(identities.map((i) => i.user).filter((user) => impersonationShard(user) === shard))].sort());
    assert.ok(names('users').every((user) => impersonationShard(user) === shard), `${role.metadata!.name} holds only its own subjects`);
    assert.ok(role.rules!.filter((r) => r.verbs?.includes('impersonate')).every((r) => r.resources?.[0] === 'userextras/kubegate.dev/session-id' || (r.resourceNames ?? []).length > 0), 'no unrestricted impersonation');
  }
  const shardOfA = sharded[1 + impersonationShard('kubegate:user:a')]!;
  assert.deepEqual(shardOfA.rules!.find((r) => r.resources?.includes('groups'))!.resourceNames!.filter((g) => g.includes(':a')), ['kubegate:grant:kubegate-system:a', 'kubegate:grant:kubegate-system:a-again'], "a subject's grant groups share its shard");
  assert.ok(new Set(identities.map((i) => impersonationShard(i.user))).size > 1, 'the subjects spread over several shards');

  const bindings = desiredImpersonation(policy, identities).filter((o): o is k8s.V1ClusterRoleBinding => o.kind === 'ClusterRoleBinding');
  assert.equal(bindings.length, 1 + impersonationShards);
  for (const binding of bindings) assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubegate-gateway-prod', namespace: 'kubegate-system' }]);
  assert.equal(impersonatedUser({ kind: 'User', name: 'deploy-bot' }), 'kubegate:user:deploy-bot');
  assert.equal(impersonatedUser({ kind: 'ServiceAccount', name: 'ci', namespace: 'build' }), 'kubegate:serviceaccount:build:ci');
});

test('durations parse as Go writes them and reject anything else', () => {
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  for (const bad of ['', '30', '1d', 'h', '1h ', '-5m']) assert.throws(() => parseDuration(bad), /invalid duration/);
  assert.equal(formatDuration(5_400_000), '1h30m');
});

test('policy validation reports every problem with its field; compiling is deterministic and versioned', () => {
  const catalog = new Set(['/pods', '/namespaces', '/secrets', 'apps/deployments']);
  const problems = validatePolicy(
    {
      rules: [
        { name: 'a', match: { verbs: ['delete', 'nuke'], resources: ['namespaces', 'gizmos'] }, action: 'Deny' },
        { name: 'b', match: { subresources: ['exec'], command: 'rm\\s+-rf(' }, action: 'Deny' },
        { name: 'c', match: { resources: ['deployments'], apiGroups: ['apps'] }, action: 'RequireApproval' },
      ],
      masking: { patterns: ['[unclosed'] },
    },
    catalog,
  );
  const fields = problems.map((p) => p.field);
  assert.deepEqual(fields, ['spec.rules[0].match.verbs', 'spec.rules[0].match.resources', 'spec.rules[1].match.command', 'spec.masking.patterns[0]', 'spec.approvers']);
  assert.match(problems[1]!.message, /gizmos/);
  const spec = { rules: [{ name: 'no-ns-delete', match: { verbs: ['DELETE'], resources: ['namespaces'] }, action: 'Deny' as const }] };
  const one = compilePolicy({ namespace: 'n', name: 'p' }, spec);
  assert.equal(one.version, compilePolicy({ namespace: 'n', name: 'p' }, spec).version);
  assert.deepEqual(one.rules[0]!.verbs, ['delete']);
  assert.equal(one.defaultAction, 'Allow');
  assert.notEqual(one.version, compilePolicy({ namespace: 'n', name: 'p' }, { ...spec, defaultAction: 'Deny' }).version);
});

test("the operator's caches keep no managedFields, and of a gateway's TLS Secret only the CA certificate", () => {
  const metadata = { name: 'g', namespace: 'n', resourceVersion: '7', generation: 2, labels: { 'kubegate.dev/policy': 'prod' }, managedFields: [{ manager: 'kubectl' }] };
  const grant = withoutManagedFields({ apiVersion: 'kubegate.dev/v1alpha1', kind: 'AccessGrant', metadata, spec: { duration: '1h' } });
  assert.deepEqual(grant, { apiVersion: 'kubegate.dev/v1alpha1', kind: 'AccessGrant', metadata: { name: 'g', namespace: 'n', resourceVersion: '7', generation: 2, labels: { 'kubegate.dev/policy': 'prod' } }, spec: { duration: '1h' } });
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata, data: { 'ca.crt': 'Y2E=', 'ca.key': 'a2V5', 'tls.key': 'a2V5' } };
  assert.deepEqual(childFields(secret), { apiVersion: 'v1', kind: 'Secret', metadata: grant.metadata, data: { 'ca.crt': 'Y2E=' } });
  assert.deepEqual(childFields({ apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { 'policy.json': '{}' } } as k8s.KubernetesObject), { apiVersion: 'v1', kind: 'ConfigMap', metadata: grant.metadata });
});
