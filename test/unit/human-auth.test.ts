/**
 * People's ID tokens: the username and groups derived as the API server derives them (claim, prefix,
 * email_verified, claim validation rules), and the grant a person is let in under (theirs by User or
 * Group, Active, of this policy; the one named; else the first whose access covers the request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessGrant } from '../../src/api/index.js';
import { humanCaller } from '../../src/gateway/human-auth.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { derivedIdentity, type IdentityProvider } from '../../src/token/id-token.js';

const provider: IdentityProvider = {
  issuer: { url: 'https://idp.example.com', audiences: ['kubegate'] },
  claimMappings: { username: { claim: 'email', prefix: 'oidc:' }, groups: { claim: 'groups', prefix: 'oidc:' } },
  claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }],
};

test('the username and groups are the claims with their prefixes, as the API server derives them', () => {
  assert.deepEqual(derivedIdentity(provider, { email: 'alice@example.com', email_verified: true, groups: ['engineers', 'oncall'], hd: 'example.com' }), {
    username: 'oidc:alice@example.com',
    groups: ['oidc:engineers', 'oidc:oncall'],
  });
  assert.deepEqual(derivedIdentity(provider, { email: 'bob@example.com', groups: 'sre-leads', hd: 'example.com' }).groups, ['oidc:sre-leads']);
  assert.deepEqual(derivedIdentity(provider, { email: 'carol@example.com', hd: 'example.com' }).groups, []);
});

test('a token is refused without its username claim, with an unverified email, a group that is not a string, or a failed rule', () => {
  const refused = (claims: Record<string, unknown>, message: RegExp) => assert.throws(() => derivedIdentity(provider, { hd: 'example.com', ...claims }), message);
  refused({}, /no email claim/);
  refused({ email: '' }, /no email claim/);
  refused({ email: 'alice@example.com', email_verified: false }, /not verified/);
  refused({ email: 'alice@example.com', groups: [1] }, /neither a string nor a list of strings/);
  refused({ email: 'alice@example.com', hd: 'evil.com' }, /claim hd must be "example.com"/);
});

const now = new Date('2026-12-01T12:00:00Z');
const later = new Date(now.getTime() + 3600_000).toISOString();

function grant(name: string, subject: AccessGrant['spec']['subject'], options: { phase?: 'Active' | 'Revoked'; policy?: string } = {}): AccessGrant {
  return {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'AccessGrant',
    metadata: { namespace: 'team', name, uid: `uid-${name}` },
    spec: { subject, reason: 'test', access: [], policyRef: { name: options.policy ?? 'prod' }, requestedBy: 'admin' },
    status: { phase: options.phase ?? 'Active', expiresAt: later },
  } as AccessGrant;
}

const alice = { issuer: 'https://idp.example.com', username: 'alice@example.com', groups: ['engineers'], expiresAt: new Date(now.getTime() + 300_000) };
const grants = [
  grant('b-engineers', { kind: 'Group', name: 'engineers' }),
  grant('a-alice', { kind: 'User', name: 'alice@example.com' }),
  grant('c-revoked', { kind: 'User', name: 'alice@example.com' }, { phase: 'Revoked' }),
  grant('d-other-policy', { kind: 'User', name: 'alice@example.com' }, { policy: 'staging' }),
  grant('e-bob', { kind: 'User', name: 'bob@example.com' }),
];
const base = { grants, policy: { namespace: 'team', name: 'prod' }, now };

test('a person is let in as themselves under their own grant, the person the subject, until the grant expires', async () => {
  const caller = await humanCaller(alice, 'token', { ...base, grants: [grants[1]!], covers: async () => true });
  assert.equal(caller.user, 'kubegate:user:alice@example.com');
  assert.deepEqual(caller.groups, ['kubegate:grant:team:a-alice']);
  assert.deepEqual(caller.subject, { kind: 'User', name: 'alice@example.com' });
  assert.equal(caller.requestedBy, 'admin');
  assert.equal(caller.expiresAt.toISOString(), later, 'what runs on is bounded by the grant, not the minutes-long ID token');
});

test('under a Group grant the API server sees the grant\'s group identity, and the person stays the subject', async () => {
  const caller = await humanCaller(alice, 'token', { ...base, chosen: 'b-engineers', covers: async () => true });
  assert.equal(caller.user, 'kubegate:group:engineers');
  assert.deepEqual(caller.subject, { kind: 'User', name: 'alice@example.com' });
});

test('with several grants: the one named, else the first whose access covers the request, else the first', async () => {
  const asked: string[][] = [];
  const coveredBy = (group: string) => async (_user: string, groups: string[]) => (asked.push(groups), groups.includes(group));
  assert.equal((await humanCaller(alice, 't', { ...base, covers: coveredBy('kubegate:grant:team:b-engineers') })).grant.name, 'b-engineers');
  assert.deepEqual(asked, [['kubegate:grant:team:a-alice'], ['kubegate:grant:team:b-engineers']]);
  assert.equal((await humanCaller(alice, 't', { ...base, covers: coveredBy('nothing') })).grant.name, 'a-alice');
  assert.equal((await humanCaller(alice, 't', { ...base, chosen: 'b-engineers', covers: coveredBy('nothing') })).grant.name, 'b-engineers');
  const a = await humanCaller(alice, 't', { ...base, chosen: 'a-alice', covers: coveredBy('nothing') });
  const b = await humanCaller(alice, 't', { ...base, chosen: 'b-engineers', covers: coveredBy('nothing') });
  assert.notEqual(a.tokenId, b.tokenId, 'each grant its own session');
});

test('no Active grant of this policy, or one named that is not theirs, is KG_NO_GRANT', async () => {
  const noGrant = (error: unknown) => error instanceof GatewayError && error.code === 'KG_NO_GRANT';
  const carol = { ...alice, username: 'carol@example.com', groups: [] };
  await assert.rejects(humanCaller(carol, 't', { ...base, covers: async () => true }), noGrant);
  for (const chosen of ['c-revoked', 'd-other-policy', 'e-bob', 'missing']) {
    await assert.rejects(humanCaller(alice, 't', { ...base, chosen, covers: async () => true }), noGrant);
  }
});
