import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateApproval } from '../../src/operator/approval.js';
import { desiredBindings } from '../../src/operator/grant-bindings.js';
import { desiredImpersonation, liveEventsReviews } from '../../src/operator/gateway-children.js';
import { grantGroup, impersonatedUser } from '../../src/api/identity.js';
import { parseDuration, formatDuration } from '../../src/util/duration.js';
import { compilePolicy, validatePolicy } from '../../src/policy/compile.js';
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

test('impersonation is exactly as wide as the active grants, and empty without one (the live endpoint’s reviews stay)', () => {
  const policy = { metadata: { name: 'prod', namespace: 'kubegate-system', uid: 'p' }, spec: {} } as unknown as SessionPolicy;
  const [none] = desiredImpersonation(policy, [], []);
  assert.deepEqual(none.rules, liveEventsReviews);
  assert.ok(none.rules!.every((rule) => !rule.verbs?.includes('impersonate')));
  const [role, binding] = desiredImpersonation(policy, ['kubegate:user:b', 'kubegate:user:a', 'kubegate:user:a'], ['kubegate:grant:kubegate-system:g']);
  const users = role.rules!.find((r) => r.resources?.includes('users'))!;
  assert.deepEqual(users.resourceNames, ['kubegate:user:a', 'kubegate:user:b']);
  assert.ok(role.rules!.filter((r) => r.verbs?.includes('impersonate')).every((r) => r.resources?.[0]?.startsWith('userextras/') || (r.resourceNames ?? []).length > 0), 'no unrestricted impersonation');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubegate-gateway-prod', namespace: 'kubegate-system' }]);
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
