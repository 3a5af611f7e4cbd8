/**
 * The access ledger's logic: which entries an AccessGrant's and ApprovalRequest's state calls for, the
 * hash chain, and appending that is idempotent (a repeated reconcile neither duplicates nor forks) — over
 * a real `file://` store in a temp folder, with time injected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessGrant, ApprovalRequest } from '../../src/api/index.js';
import { FileStore } from '../../src/recording/file-store.js';
import { appendDue, chainPrefix, chainProblems, dueEntries, entryKey, ledgerSchema, readEntries, type LedgerFacts } from '../../src/recording/ledger.js';
import { approvalFacts, grantFacts } from '../../src/operator/ledger-facts.js';
import { ledgerBindings } from '../../src/operator/access-ledger.js';
import { findChain, recordedAccess } from '../../src/audit/ledger.js';
import { LedgerGrantSource } from '../../src/audit/report/ledger-grant-source.js';
import { planIdentities } from '../../src/audit/replay/recorded-identity.js';
import type { ReplayTarget } from '../../src/audit/replay/engine.js';

const now = new Date('2026-12-01T22:00:00Z');
const pullRequest = { url: 'https://git.example/access/pull/42', author: 'carol', approvers: ['bob'], mergedAt: '2026-11-30T23:50:00Z' };
const flux = 'system:serviceaccount:flux-system:kustomize-controller';

function grant(overrides: { status?: AccessGrant['status']; deletionTimestamp?: string } = {}): AccessGrant {
  return {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'AccessGrant',
    metadata: { namespace: 'team-a', name: 'deploy-bot', uid: 'uid-grant-1', creationTimestamp: '2026-11-30T23:59:59Z' as unknown as Date, ...(overrides.deletionTimestamp ? { deletionTimestamp: overrides.deletionTimestamp as unknown as Date } : {}) },
    spec: {
      subject: { kind: 'User', name: 'deploy-bot' },
      reason: 'CHG-42',
      duration: '30m',
      access: [{ namespace: 'payments', clusterRole: 'edit' }],
      policyRef: { name: 'prod' },
      approval: { required: true, pullRequest },
      requestedBy: flux,
    },
    ...(overrides.status ? { status: overrides.status } : {}),
  };
}

const approvedByPullRequest = { type: 'Approved', status: 'True' as const, reason: 'PullRequestMerged', message: 'approved by merged pull request', lastTransitionTime: '2026-12-01T00:00:01Z' };
const active: AccessGrant['status'] = { phase: 'Active', activatedAt: '2026-12-01T00:00:01Z', expiresAt: '2026-12-01T00:30:01Z', conditions: [approvedByPullRequest] };
const revoked: AccessGrant['status'] = {
  ...active, phase: 'Revoked', message: 'spec.revoked is true',
  conditions: [approvedByPullRequest, { type: 'Ready', status: 'False', reason: 'Revoked', message: 'spec.revoked is true', lastTransitionTime: '2026-12-01T00:10:00Z' }],
};

test('a grant calls for created, its pull-request decision, activated, revoked and deleted, in that order, as its state shows them', () => {
  const bindings = ledgerBindings(grant());
  assert.deepEqual(grantFacts(grant(), bindings, now).map((f) => f.id), ['created'], 'pending: only created (the pull request has not counted yet)');
  assert.deepEqual(grantFacts(grant({ status: active }), bindings, now).map((f) => f.id), ['created', 'decision-0', 'activated']);
  const all = grantFacts(grant({ status: revoked, deletionTimestamp: '2026-12-01T00:20:00Z' }), bindings, now);
  assert.deepEqual(all.map((f) => [f.id, f.at]), [
    ['created', '2026-11-30T23:59:59.000Z'], ['decision-0', pullRequest.mergedAt], ['activated', active.activatedAt], ['revoked', '2026-12-01T00:10:00Z'], ['deleted', '2026-12-01T00:20:00.000Z'],
  ]);
  const [created, decision, activated] = all;
  assert.deepEqual([created!.actor, created!.reason, created!.access], [flux, 'CHG-42', [{ namespace: 'payments', clusterRole: 'edit' }]]);
  assert.deepEqual([decision!.actor, decision!.decision, decision!.pullRequest], [flux, 'Approve', pullRequest]);
  assert.deepEqual(activated!.bindings, [{ kind: 'RoleBinding', namespace: 'payments', name: bindings[0]!.name, roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'Group', name: 'kubegate:grant:team-a:deploy-bot' }] }]);
});

test('an approval calls for created, each decision and its verdict', () => {
  const request: ApprovalRequest = {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'ApprovalRequest',
    metadata: { namespace: 'team-a', name: 'deploy-bot-uid-', uid: 'uid-approval-1', creationTimestamp: '2026-12-01T00:00:00Z' as unknown as Date, labels: { 'kubegate.dev/grant': 'uid-grant-1' } },
    spec: { policyRef: { name: 'prod' }, target: { kind: 'AccessGrant', name: 'deploy-bot' }, requester: 'dev', subject: 'deploy-bot', reason: 'CHG-42', expiresAt: '2026-12-01T01:00:00Z', decisions: [{ decision: 'Approve', by: 'alice', reason: 'ok', at: '2026-12-01T00:05:00Z' }] },
    status: { phase: 'Approved', approvals: 1, decidedAt: '2026-12-01T00:05:01Z' },
  };
  const facts = approvalFacts(request, now);
  assert.deepEqual(facts.map((f) => [f.id, f.actor]), [['created', 'dev'], ['decision-0', 'alice'], ['approved', 'kubegate-operator']]);
  assert.deepEqual(facts[0]!.target, { kind: 'AccessGrant', name: 'deploy-bot', uid: 'uid-grant-1' });
});

test('due entries: those whose id the chain lacks, in the state\'s order', () => {
  const facts = grantFacts(grant({ status: revoked }), [], now);
  assert.deepEqual(dueEntries(facts, ['created', 'decision-0']).map((f) => f.id), ['activated', 'revoked']);
  assert.deepEqual(dueEntries(facts, facts.map((f) => f.id)), []);
});

function tempStore(): { store: FileStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-ledger-'));
  return { store: new FileStore(dir), dir };
}

test('appending is idempotent: a repeated reconcile writes nothing, a later state continues the chain; every entry names the previous one\'s hash', async () => {
  const { store } = tempStore();
  let clock = now.getTime();
  const options = { now: () => new Date(clock++) };
  const object = grantFacts(grant(), [], now)[0]!;
  assert.equal(chainPrefix(object), 'ledger/2026/11/30/team-a/accessgrants/deploy-bot/uid-grant-1/', 'dated by the object\'s creation (UTC)');

  const first = await appendDue(store, object, grantFacts(grant({ status: active }), [], now), options);
  assert.deepEqual(first.written.map((e) => [e.seq, e.id]), [[0, 'created'], [1, 'decision-0'], [2, 'activated']]);
  // the same state again (a reconcile repeated after a crash): nothing written, nothing forked
  assert.deepEqual((await appendDue(store, object, grantFacts(grant({ status: active }), [], now), options)).written, []);
  const later = await appendDue(store, object, grantFacts(grant({ status: revoked, deletionTimestamp: '2026-12-01T00:20:00Z' }), [], now), options);
  assert.deepEqual(later.written.map((e) => [e.seq, e.id]), [[3, 'revoked'], [4, 'deleted']]);

  const stored = await readEntries(store, chainPrefix(object));
  assert.deepEqual(stored.map((s) => s.key), [0, 1, 2, 3, 4].map((seq) => entryKey(object, seq)));
  assert.ok(stored.every((s) => s.entry.schema === ledgerSchema && s.bytes.toString().endsWith('}\n') && !s.bytes.toString().slice(0, -1).includes('\n')), 'one JSON object on one line per file');
  assert.equal(stored[0]!.entry.previousSha256, null);
  assert.deepEqual(chainProblems(stored), []);
});

test('a chain with an entry changed names the break', async () => {
  const { store, dir } = tempStore();
  const object = grantFacts(grant(), [], now)[0]!;
  await appendDue(store, object, grantFacts(grant({ status: revoked }), [], now), { now: () => now });
  const file = join(dir, entryKey(object, 1));
  writeFileSync(file, readFileSync(file, 'utf8').replace('bob', 'eve'), { mode: 0o644 });
  const problems = chainProblems(await readEntries(store, chainPrefix(object)));
  assert.deepEqual(problems, [`${entryKey(object, 2)}: previousSha256 does not match entry 1`]);
});

test('the reader finds a chain from a later day, and the grant source reads who approved, through which pull request, and when it was active', async () => {
  const { store } = tempStore();
  const facts = grantFacts(grant({ status: revoked, deletionTimestamp: '2026-12-01T00:20:00Z' }), ledgerBindings(grant()), now);
  await appendDue(store, facts[0]!, facts, { now: () => now });
  const ref = { namespace: 'team-a', name: 'deploy-bot', uid: 'uid-grant-1' };
  // a session two days after the grant's creation still finds it; one that ends its look back too early does not
  assert.equal((await findChain(store, { kind: 'AccessGrant', ...ref }, '2026-12-02T10:00:00Z'))?.entries.length, 5);
  assert.equal(await findChain(store, { kind: 'AccessGrant', ...ref }, '2026-12-02T10:00:00Z', 1), undefined);
  assert.equal(await findChain(store, { kind: 'AccessGrant', ...ref, uid: 'another' }, '2026-12-01T10:00:00Z'), undefined);

  const record = await new LedgerGrantSource(store).grant(ref, '2026-12-01T00:05:00Z');
  assert.deepEqual(record, {
    source: 'ledger', phase: 'Revoked', requester: flux, reason: 'CHG-42', activatedAt: active.activatedAt, expiresAt: active.expiresAt, revokedAt: '2026-12-01T00:10:00Z', deletedAt: '2026-12-01T00:20:00.000Z',
    decisions: [{ decision: 'Approve', by: 'bob', reason: `approved pull request ${pullRequest.url}`, pullRequest: pullRequest.url, at: pullRequest.mergedAt }],
  });
  const access = await recordedAccess(store, ref, '2026-12-01T00:05:00Z');
  assert.ok('bindings' in access);
  assert.deepEqual([access.subject, access.bindings.map((b) => b.roleRef.name)], [{ kind: 'User', name: 'deploy-bot' }, ['edit']]);
});

test('replay --as-recorded: a grant the ledger has no chain of is replayed as admin, and the plan says why; nothing is sent to the target', async () => {
  const { store } = tempStore();
  const untouched: ReplayTarget = {
    request: () => assert.fail('no binding to recreate'),
    getJson: () => assert.fail('no binding to recreate'),
  };
  const session = { sessionId: 's-1', summary: { grant: { namespace: 'team-a', name: 'deploy-bot', uid: 'uid-grant-1' }, subject: { kind: 'User', name: 'deploy-bot' }, startedAt: '2026-12-01T00:05:00Z' } };
  const plan = await planIdentities(store, untouched, [session]);
  assert.equal(plan.sessions.size, 0);
  assert.deepEqual(plan.identities, [{ grant: 'team-a/deploy-bot', as: 'admin', reason: `the access ledger in ${store.url} has no chain for AccessGrant team-a/deploy-bot (uid uid-grant-1)` }]);
});
