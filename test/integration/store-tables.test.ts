/**
 * The store as tables (issue 11, item 5): two subjects work through the real gateway with the real
 * kubectl — one makes a namespace and two pods and deletes one, the other lists and deletes the other —
 * and DuckDB, over the `file://` store they filled, answers the README's queries with the README's SQL
 * (schemas/tables/): who deleted pods in the namespace this month, every call of a subject on a day, which
 * sessions are open (while the gateway still records them; each kubectl invocation is a session), which
 * were tampered with (once a final segment is removed and a segment's bytes edited; and, the index
 * rewritten to hide the removal, what the checkpoint log says), and — from the access ledger the operator
 * writes to the same store — which grant an approver approved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fixturePolicyRules, gatewayFixture } from '../harness/gateway-fixture.js';
import { jitKubeconfig } from '../harness/gateway.js';
import { accessGrant, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';
import { Kubectl } from '../harness/kubectl.js';
import { storeTables, type StoreTables } from '../harness/store-tables.js';
import type { RecordedEvent, SessionIndex } from '../../src/recording/format.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);

// one store for the gateway's sessions and the operator's access ledger, as the policy names it
const root = mkdtempSync(join(tmpdir(), 'kubegate-tables-store-'));
const fixture = gatewayFixture({
  rules: fixturePolicyRules,
  // the creator may make namespaces: cluster-admin everywhere (the gateway's own rules still apply)
  access: () => [{ clusterRole: 'cluster-admin' }],
  policySpec: () => ({ gateway: { replicas: 1, iamRoleArn: 'arn:aws:iam::123456789012:role/kubegate-test-gateway', storage: { url: `file://${root}` } } }),
  gatewayOptions: async () => ({ store: `file://${root}` }),
});

const dayOf = (time: Date) => time.toISOString().slice(0, 10).replaceAll('-', '/');

/** The store's files under `folder` whose name `wanted` takes, with their paths. */
function storeFiles(root: string, folder: string, wanted: RegExp): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && wanted.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** Every call on a resource that a subject's recorded request events name, read from its segments without the tables. */
function recordedCalls(root: string, subject: string): string[] {
  const requests = storeFiles(root, 'sessions', /^segment-\d{6}\.jsonl$/)
    .filter((path) => path.includes(`/${subject}/`))
    .flatMap((path) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as RecordedEvent))
    .filter((event): event is RecordedEvent & { type: 'request' } => event.type === 'request');
  return requests
    .map((event) => event.attributes as { isResourceRequest?: boolean; verb: string; resource?: string; name?: string })
    .filter((attributes) => attributes.isResourceRequest && attributes.resource)
    .map((attributes) => `${attributes.verb} ${attributes.resource}`)
    .sort();
}

/** A query's run time, kept for the test's diagnostics (the README quotes them). */
const timings: string[] = [];
async function ask(tables: StoreTables, file: string, parameters: Record<string, string>): Promise<Array<Record<string, unknown>>> {
  const { rows, ms } = await tables.query(file, parameters);
  timings.push(`${file}: ${ms.toFixed(1)} ms, ${rows.length} rows`);
  return rows;
}

/** The tables as the store stands now (a view is made over the files its folder has when it is made). */
async function withTables<T>(root: string, use: (tables: StoreTables) => Promise<T>): Promise<T> {
  const tables = await storeTables(root);
  try {
    return await use(tables);
  } finally {
    tables.close();
  }
}

test('DuckDB over a file:// store the real gateway and operator filled answers the README queries: who deleted pods in a namespace this month, every call of a subject on a day, open and tampered sessions, grants an approver approved', async (t) => {
  const f = await fixture();
  const { admin, cluster, namespace, bot: creator } = f;
  const started = new Date();
  // the cleaner's grant needs an approver: alice (of sre-leads) approves it
  await admin.ok(['create', 'rolebinding', uniqueName('approvers'), '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  const cleanerGrant = uniqueName('cleanup-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, cleanerGrant, { subject: { kind: 'User', name: 'cleanup-bot' }, duration: '1h', access: [{ clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin', reason: 'clear the old pods (CHG-42)', approval: { required: true } })),
  });
  const grantPhase = async () => (await admin.ok(['get', 'accessgrant', cleanerGrant, '-n', namespace, '-o', 'jsonpath={.status.phase} {.status.approvalRequest}'])).trim().split(' ');
  let approvalRequest = '';
  await eventually(async () => assert.ok((approvalRequest = (await grantPhase())[1] ?? '')), 20_000);
  const approver = cluster.kubeconfigFile(await cluster.tokenFor({ user: 'alice', groups: ['sre-leads'] }));
  await run(join(packageRoot(), 'bin', 'kubegate'), ['approve', approvalRequest, '-n', namespace, '--reason', 'the cleanup is due', '--kubeconfig', approver]);
  await eventually(async () => assert.equal((await grantPhase())[0], 'Active'), 60_000);
  const cleaner = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: cleanerGrant }, f.gateway));

  const [made, first, second] = [uniqueName('made'), uniqueName('api'), uniqueName('worker')];
  await creator.ok(['create', 'namespace', made]);
  for (const pod of [first, second]) await eventually(async () => void (await creator.ok(['run', pod, '-n', made, '--image=registry.example/app:1.0', '--restart=Never'])), 20_000);
  await eventually(async () => assert.match(await cleaner.ok(['get', 'pods', '-n', made, '-o', 'name']), new RegExp(`pod/${first}`)), 20_000);
  await cleaner.ok(['delete', 'pod', first, '-n', made, '--wait=false']);
  await creator.ok(['delete', 'pod', second, '-n', made, '--wait=false']);

  const today = { from_day: dayOf(started), to_day: dayOf(new Date()) };
  // while the gateway records them (a session a kubectl invocation), every session is open: their segments
  // seal as they age, none is final
  await eventually(async () => {
    const open = await withTables(root, (tables) => ask(tables, 'queries/session-integrity.sql', today));
    assert.deepEqual(new Set(open.map((row) => `${row.subject} ${row.status} ${row.reason}`)), new Set(['cleanup-bot open no final segment yet', 'deploy-bot open no final segment yet']));
    assert.deepEqual(open.map((row) => row.session).sort(), storeFiles(root, 'index', /\.json$/).map((path) => path.split('/').at(-2)).sort(), 'every session');
    assert.ok(open.some((row) => Number(row.sealed) > 0), 'segments sealed while open');
  }, 30_000);
  await f.gateway.stop(); // drains: every session is closed, sealed and uploaded

  const month = { from_day: `${dayOf(started).slice(0, 8)}01`, to_day: `${dayOf(new Date()).slice(0, 8)}31` };
  await withTables(root, async (tables) => {
    const deletions = await ask(tables, 'queries/pod-deletions.sql', { ...month, namespace: made });
    assert.deepEqual(
      deletions.map((row) => [row.subject, row.grant, row.pod, row.decision, row.status]),
      [
        ['cleanup-bot', `${namespace}/${cleanerGrant}`, first, 'Allow', 200],
        ['deploy-bot', `${namespace}/${f.grant}`, second, 'Allow', 200],
      ],
      'who deleted which pod, in time order',
    );
    assert.deepEqual(await ask(tables, 'queries/pod-deletions.sql', { ...month, namespace }), [], 'no pod of another namespace');

    const day = dayOf(new Date());
    const cleanerCalls = await ask(tables, 'queries/subject-calls.sql', { day, subject: 'cleanup-bot' });
    assert.deepEqual(cleanerCalls.map((row) => `${row.verb} ${row.resource}`).sort(), recordedCalls(root, 'cleanup-bot'), 'every call on a resource the session recorded, one row each');
    assert.ok(cleanerCalls.some((row) => row.verb === 'list' && row.resource === 'pods' && row.name === '' && row.namespace === made), 'the list is a row too');
    assert.deepEqual(cleanerCalls.filter((row) => row.verb === 'delete').map((row) => row.name), [first]);
    const creatorCalls = await ask(tables, 'queries/subject-calls.sql', { day, subject: 'deploy-bot' });
    assert.deepEqual(creatorCalls.map((row) => `${row.verb} ${row.resource}`).sort(), recordedCalls(root, 'deploy-bot'));
    assert.deepEqual(creatorCalls.filter((row) => row.verb === 'create' && row.status === 201).map((row) => [row.resource, row.namespace, row.name]), [['namespaces', '', made], ['pods', made, first], ['pods', made, second]]);

    assert.deepEqual(await ask(tables, 'queries/session-integrity.sql', today), [], 'closed, every session is intact');
    assert.deepEqual(await ask(tables, 'duckdb/changed-segments.sql', today), []);
    assert.deepEqual(await ask(tables, 'queries/truncated-chains.sql', today), [], 'the store holds every chain as far as the checkpoint log saw it');
  });

  // the creator's last segment goes (its manifest too); a line of the cleaner's first segment is edited in place
  const last = storeFiles(root, 'sessions', /\.manifest\.json$/).filter((path) => path.includes('/deploy-bot/')).at(-1)!;
  for (const path of [last, last.replace('.manifest.json', '.jsonl')]) rmSync(path);
  const edited = storeFiles(root, 'sessions', /^segment-000000\.jsonl$/).find((path) => path.includes('/cleanup-bot/'))!;
  chmodSync(edited, 0o644); // stored under retention: read-only in a file store
  writeFileSync(edited, readFileSync(edited, 'utf8').replace('"status":200', '"status":201'));

  const [truncatedSession, truncatedWriter] = last.split('/').slice(-3, -1) as [string, string];
  await withTables(root, async (tables) => {
    const tampered = await ask(tables, 'queries/session-integrity.sql', today);
    assert.deepEqual(tampered.map((row) => [row.subject, row.session, row.status, row.reason]), [['deploy-bot', truncatedSession, 'tampered', 'segments missing']], 'the rows show the missing segment');
    const changed = await ask(tables, 'duckdb/changed-segments.sql', today);
    assert.deepEqual(changed.map((row) => [row.segment, row.problem]), [[0, 'segment changed']], 'the bytes show the edited one');
    assert.ok(edited.includes(`/${String(changed[0]!.session)}/`), 'in the cleaner\'s session');
  });

  // the truncated session's index (a cache, under no lock) rewritten to look open: only the checkpoint log tells
  const indexFile = storeFiles(root, 'index', /\.json$/).find((path) => path.endsWith(`/${truncatedSession}/${truncatedWriter}.json`))!;
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as SessionIndex;
  writeFileSync(indexFile, JSON.stringify({ ...index, segments: index.segments - 1, endedAt: null }));
  await withTables(root, async (tables) => {
    const looks = await ask(tables, 'queries/session-integrity.sql', today);
    assert.deepEqual(looks.map((row) => [row.session, row.status]), [[truncatedSession, 'open']], 'the rows alone take it for open');
    const truncated = await ask(tables, 'queries/truncated-chains.sql', today);
    assert.deepEqual(truncated.map((row) => [row.session, row.writer, row.logged_final, row.stored_final]), [[truncatedSession, truncatedWriter, true, false]], 'the checkpoint log saw it end');
  });

  // the ledger the operator wrote beside the sessions: who approved which grant, for whom and why
  await eventually(() => withTables(root, async (tables) => {
    const approved = await ask(tables, 'queries/grant-approvals.sql', { ...month, approver: 'alice' });
    assert.deepEqual(
      approved.map((row) => [row.namespace, row.grant, row.approver, row.reason, row.requested_for, row.subject]),
      [[namespace, cleanerGrant, 'alice', 'the cleanup is due', 'clear the old pods (CHG-42)', 'cleanup-bot']],
    );
    assert.deepEqual(await ask(tables, 'queries/grant-approvals.sql', { ...month, approver: 'bob' }), []);
  }), 20_000);
  t.diagnostic(`query times (DuckDB ${timings.length} runs): ${timings.join('; ')}`);
});
