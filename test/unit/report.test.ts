/**
 * The compliance report's formats over sessions written by the gateway's own recorder: which calls are
 * listed and why, CSV quoting and its formula guard, the OCSF mapping (each event valid against OCSF's
 * 1.3.0 schema), and a tampered session shown as tampered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { recordSession, sampleEvents } from '../harness/recordings.js';
import { ocsfApiActivityValidator } from '../harness/ocsf-schema.js';
import { writeReport, type ReportHead, type ReportWriter } from '../../src/audit/report/report.js';
import { Sink } from '../../src/audit/report/sink.js';
import { CsvReport, csvCell } from '../../src/audit/report/csv.js';
import { JsonReport } from '../../src/audit/report/json.js';
import { HtmlReport } from '../../src/audit/report/html.js';
import { activityId, OcsfReport } from '../../src/audit/report/ocsf.js';
import type { SessionReport } from '../../src/audit/report/session-report.js';
import type { RecordingStore } from '../../src/recording/store.js';
import type { RecordEvent } from '../../src/recording/format.js';

const range = { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) };
const head: ReportHead = { generatedAt: new Date().toISOString(), store: 'file:///test', from: range.from.toISOString(), to: range.to.toISOString(), filter: {}, grantSource: null };

async function render(store: RecordingStore, make: (out: Sink) => ReportWriter): Promise<string> {
  const stream = new PassThrough();
  const done = text(stream);
  await writeReport(store, { filter: {}, range }, make(new Sink(stream)));
  stream.end();
  return done;
}

/** A denied secret read, a created ConfigMap whose name starts like a formula, and an escalation held for approval. */
function moreEvents(): RecordEvent[] {
  const attributes = (verb: string, resource: string, name: string, group = '') => ({ isResourceRequest: true, verb, apiGroup: group, apiVersion: 'v1', namespace: 'payments', resource, subresource: '', name, path: '/x' });
  return [
    ...sampleEvents(2),
    { type: 'request', requestId: 'sec', method: 'GET', path: '/api/v1/namespaces/payments/secrets/db', attributes: attributes('get', 'secrets', 'db') },
    { type: 'decision', requestId: 'sec', action: 'Deny', rule: 'no-secrets', message: 'secrets are off limits' },
    { type: 'response', requestId: 'sec', status: 403, bodyBytes: 10, durationMs: 1 },
    { type: 'request', requestId: 'cm', method: 'POST', path: '/api/v1/namespaces/payments/configmaps', attributes: attributes('create', 'configmaps', '=cmd|calc') },
    { type: 'decision', requestId: 'cm', action: 'Allow', message: 'default, "quoted"' },
    { type: 'response', requestId: 'cm', status: 201, bodyBytes: 10, durationMs: 1 },
    { type: 'request', requestId: 'rb', method: 'POST', path: '/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings', attributes: attributes('create', 'rolebindings', 'admins', 'rbac.authorization.k8s.io') },
    { type: 'decision', requestId: 'rb', action: 'RequireApproval', rule: 'escalations', message: 'needs an approval (escalation: binds cluster-admin)' },
    { type: 'response', requestId: 'rb', status: 403, bodyBytes: 10, durationMs: 1 },
  ];
}

test('the report lists mutating, denied, approval-gated, exec and escalating calls, and counts every request', async () => {
  const recorded = await recordSession({ events: moreEvents() });
  const json = JSON.parse(await render(recorded.store, (out) => new JsonReport(out, head))) as { summary: Record<string, number>; grants: { grant: { name: string; sessions: number }; sessions: SessionReport[] }[] };
  assert.deepEqual(json.summary, { grants: 1, sessions: 1, intact: 1, open: 0, tampered: 0, requests: 7, mutating: 3, denied: 1, approvalGated: 2, exec: 1, escalations: 1, missing: [] });
  const [session] = json.grants[0]!.sessions;
  assert.equal(session!.verification.status, 'intact');
  assert.deepEqual(session!.calls.map((call) => [call.call, call.kinds, call.decision, call.status]), [
    ['delete pods payments/api-7', ['mutating', 'approval-gated'], 'RequireApproval', 200],
    ['create pods/exec payments/api-1', ['exec'], 'Allow', undefined],
    ['get secrets payments/db', ['denied'], 'Deny', 403],
    ['create configmaps payments/=cmd|calc', ['mutating'], 'Allow', 201],
    ['create rolebindings.rbac.authorization.k8s.io payments/admins', ['mutating', 'approval-gated', 'escalation'], 'RequireApproval', 403],
  ]);
  assert.equal(session!.calls[0]!.approval, 'delete-pods-x7k2');
  assert.deepEqual(session!.calls[1]!.command, ['sh']);
  assert.equal(session!.calls[4]!.escalation, 'binds cluster-admin');
});

test('CSV: RFC 4180 quoting, a formula guard, one row per call and a row for a session without one', async () => {
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"\nbye'), '"say ""hi""\nbye"');
  for (const formula of ['=1+1', '+1', '-1', '@SUM(A1)']) assert.equal(csvCell(formula), `'${formula}`);
  const recorded = await recordSession({ events: moreEvents() });
  const csv = await render(recorded.store, (out) => new CsvReport(out));
  const lines = csv.split('\r\n');
  assert.equal(lines.at(-1), '', 'every row ends in CRLF');
  assert.match(lines[0]!, /^session_id,session_verification,/);
  assert.equal(lines.length - 2, 5, 'one row per listed call');
  assert.ok(lines.some((line) => line.includes(",'=cmd|calc,")), 'the name that would run as a formula is guarded');
  assert.ok(lines.some((line) => line.includes('"default, ""quoted"""')), 'a comma and quotes are quoted');
  const quiet = await recordSession({ events: sampleEvents(1).slice(0, 3) });
  const single = (await render(quiet.store, (out) => new CsvReport(out))).split('\r\n');
  assert.equal(single.length, 3, 'a session with no listed call is one row');
  assert.match(single[1]!, new RegExp(`^${quiet.metadata.sessionId},intact,`));
});

test('OCSF: every event is a valid OCSF 1.3.0 API Activity event, its activity from the verb', async () => {
  assert.deepEqual(['create', 'get', 'list', 'watch', 'update', 'patch', 'delete', 'deletecollection', 'bind'].map(activityId), [1, 2, 2, 2, 3, 3, 4, 4, 99]);
  const recorded = await recordSession({ events: moreEvents() });
  const lines = (await render(recorded.store, (out) => new OcsfReport(out, '0.1.0'))).trimEnd().split('\n');
  const validate = ocsfApiActivityValidator();
  const events = lines.map((line) => JSON.parse(line) as Record<string, any>);
  assert.equal(events.length, 5);
  for (const event of events) assert.equal(validate(event), undefined);
  assert.deepEqual(events.map((event) => [event.activity_id, event.type_uid, event.status_id, event.api.operation]), [
    [4, 600304, 1, 'delete'], [1, 600301, 0, 'create'], [2, 600302, 2, 'get'], [1, 600301, 1, 'create'], [1, 600301, 2, 'create'],
  ]);
  assert.deepEqual(events[0]!.actor.user, { name: 'deploy-bot', type: 'User' });
  assert.deepEqual(events[0]!.resources, [{ name: 'api-7', namespace: 'payments', type: 'pods' }]);
  assert.deepEqual(events[0]!.src_endpoint, { ip: '10.0.0.7' });
  assert.equal(events[0]!.unmapped.kubegate.approval, 'delete-pods-x7k2');
  assert.equal(events[0]!.metadata.product.name, 'kubegate');
  // the validator is no rubber stamp: it refuses what OCSF does not allow
  assert.ok(validate({ ...events[0], activity_id: 5 }));
  assert.ok(validate({ ...events[0], kubegate: {} }));
});

test('invariant 8: a tampered session is TAMPERED in the JSON, CSV and HTML reports, and the summary counts it', async () => {
  const recorded = await recordSession();
  appendFileSync(join(recorded.dir, recorded.prefix, 'segment-000001.jsonl'), '{"v":3}\n');
  const json = JSON.parse(await render(recorded.store, (out) => new JsonReport(out, head))) as { summary: { tampered: number; intact: number }; grants: { sessions: SessionReport[] }[] };
  assert.equal(json.summary.tampered, 1);
  assert.equal(json.summary.intact, 0);
  assert.match(json.grants[0]!.sessions[0]!.verification.problems.join('\n'), /segment 1 changed/);
  const csv = await render(recorded.store, (out) => new CsvReport(out));
  assert.match(csv.split('\r\n')[1]!, new RegExp(`^${recorded.metadata.sessionId},tampered,.*segment 1 changed`));
  const html = await render(recorded.store, (out) => new HtmlReport(out, head));
  assert.match(html, /<span class="badge tampered">TAMPERED<\/span>/);
  assert.match(html, /<tr class="alert"><th scope="row">Sessions TAMPERED<\/th><td class="num">1<\/td><\/tr>/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!kubegate)/, 'self-contained: no script, nothing fetched');
});

test('an empty window is a valid report in every format', async () => {
  const recorded = await recordSession({ startedAt: new Date(Date.now() - 48 * 3_600_000) });
  const json = JSON.parse(await render(recorded.store, (out) => new JsonReport(out, head))) as { summary: { sessions: number }; grants: unknown[] };
  assert.deepEqual([json.summary.sessions, json.grants], [0, []]);
  assert.match(await render(recorded.store, (out) => new HtmlReport(out, head)), /No session in this window/);
});
