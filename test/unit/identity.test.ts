/**
 * One identity mapping (src/api/identity.ts): the same person is the same string on every path the API
 * server or admission compares — as the creator of a grant, as a grant's subject, as the caller of a held
 * request, as an approver — and the identity the gateway impersonates is never one of those strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authenticatedName,
  grantApprovalParties,
  grantGroup,
  impersonatedUser,
  mayDecide,
  subjectUsername,
  type GrantSubject,
} from '../../src/api/identity.js';
import { evaluateApproval } from '../../src/operator/approval.js';

/** Each subject kind, and what the API server's authenticator calls that person when they come themselves. */
const people: Array<{ subject: GrantSubject; authenticated: { username: string; groups: string[] }; impersonated: string }> = [
  { subject: { kind: 'User', name: 'alice' }, authenticated: { username: 'alice', groups: ['sre-leads', 'system:authenticated'] }, impersonated: 'kubegate:user:alice' },
  {
    subject: { kind: 'ServiceAccount', name: 'ci', namespace: 'build' },
    authenticated: { username: 'system:serviceaccount:build:ci', groups: ['system:serviceaccounts', 'system:serviceaccounts:build', 'system:authenticated'] },
    impersonated: 'kubegate:serviceaccount:build:ci',
  },
  { subject: { kind: 'User', name: 'oidc:alice@example.com' }, authenticated: { username: 'oidc:alice@example.com', groups: [] }, impersonated: 'kubegate:user:oidc:alice@example.com' },
];

test('a subject is the string the API server authenticates that person as, on every approval path', () => {
  for (const { subject, authenticated } of people) {
    const name = authenticatedName(authenticated);
    assert.equal(subjectUsername(subject), name);
    // the same person asking for their own grant, and calling through it into a held request
    assert.deepEqual(grantApprovalParties({ requestedBy: name, subject }), { requester: name, subject: name });
    // ... can decide neither, under the name kubegate approve records for them
    assert.equal(mayDecide(name!, grantApprovalParties({ requestedBy: 'kubegate-admin', subject })), false, `${name} approving access for themselves`);
    // a request held under a grant someone else asked for: both the asker and the subject are parties
    const held = grantApprovalParties({ requestedBy: 'carol', subject });
    assert.equal(mayDecide(name!, held), false, `${name} approving their own command`);
    assert.equal(mayDecide('carol', held), false, 'the grant\'s requester approving a command run under it');
    assert.equal(mayDecide('bob', held), true);
  }
  assert.equal(authenticatedName({ username: '' }), undefined, 'no username is no one, not the empty string');
  assert.equal(authenticatedName(undefined), undefined);
});

test('a requester or subject approving their own request does not count towards approval', () => {
  const alice: GrantSubject = { kind: 'User', name: 'alice' };
  const parties = grantApprovalParties({ requestedBy: 'carol', subject: alice });
  const decisions = ['alice', 'carol', 'bob'].map((by) => ({ decision: 'Approve' as const, by }));
  const outcome = evaluateApproval({ ...parties, expiresAt: '2999-01-01T00:00:00Z', decisions }, { minApprovals: 2, appliers: [] }, new Date(0));
  assert.equal(outcome.phase, 'Pending');
  assert.equal(outcome.approvals, 1, 'only bob counts');
});

test('the impersonated identity is prefixed, so it is never the name the person or a bare binding has', () => {
  for (const { subject, authenticated, impersonated } of people) {
    assert.equal(impersonatedUser(subject), impersonated);
    assert.notEqual(impersonatedUser(subject), authenticatedName(authenticated));
    assert.ok(!authenticated.groups.includes(impersonatedUser(subject)));
  }
  assert.equal(impersonatedUser({ kind: 'Group', name: 'developers' }), 'kubegate:group:developers');
  assert.equal(grantGroup('kubegate-system', 'deploy-bot-payments'), 'kubegate:grant:kubegate-system:deploy-bot-payments');
});
