/**
 * The compliance report end to end: the real kubectl works through the real gateway under a grant an
 * approver approved — reads, writes, a denied secret read, a delete held for approval and then approved, an
 * escalation held, an exec — and one recorded session is then rewritten in the store. The real `kubegate
 * report` CLI (with the cluster as its grant source) shows that session as tampered in JSON, CSV and HTML,
 * counts right, emits OCSF events valid against OCSF's own 1.3.0 schema, and its HTML is read and printed
 * by real headless Chromium.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { packageRoot } from '../../src/util/package-root.js';
import type { SessionIndex } from '../../src/recording/format.js';
import type { SessionReport } from '../../src/audit/report/session-report.js';
import type { GrantSection, ReportSummary } from '../../src/audit/report/report.js';
import { testCluster } from '../harness/cluster.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { launchBrowser, openPage, screenshot, screenshotDir } from '../harness/browser.js';
import { ocsfApiActivityValidator } from '../harness/ocsf-schema.js';

let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await gateway?.stop();
  await operator?.stop();
});

const kubegate = join(packageRoot(), 'bin', 'kubegate');

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(kubegate, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const rules = [
  { name: 'no-namespace-deletion', match: { verbs: ['delete'], resources: ['namespaces'] }, action: 'Deny' },
  { name: 'no-secrets', match: { verbs: ['get', 'list'], resources: ['secrets'] }, action: 'Deny' },
  { name: 'escalation-needs-a-human', match: { escalation: true }, action: 'RequireApproval' },
  { name: 'configmap-deletes-need-a-human', match: { verbs: ['delete'], resources: ['configmaps'] }, action: 'RequireApproval' },
];

interface JsonReport {
  summary: ReportSummary;
  grants: { grant: GrantSection; sessions: SessionReport[] }[];
}

test('invariant 8: the report of a window shows grants, approvals, calls and a tampered session as tampered in every format; Chromium reads and prints it', async () => {
  const cluster = await testCluster();
  operator = await startOperator(cluster);
  const admin = await cluster.kubectl();
  const namespace = await cluster.namespace('report', { keep: true });
  const target = await cluster.namespace('ledger', { keep: true });
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'audited', { rules })) });
  await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  const alice = await cluster.kubectl({ user: 'alice', groups: ['sre-leads'] });
  const approve = async (request: string) => {
    const approved = await run(['approve', request, '-n', namespace, '--reason', 'CHG-7 reviewed', '--kubeconfig', alice.kubeconfig]);
    assert.equal(approved.code, 0, approved.stderr);
  };

  // a grant that needs approval: alice approves it
  const grant = uniqueName('report-bot');
  const subject = uniqueName('report-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: subject }, duration: '1h', access: [{ namespace: target, clusterRole: 'admin' }], policyRef: { name: 'audited' }, approval: { required: true }, requestedBy: 'kubegate-admin', reason: 'quarterly ledger fix (CHG-7)' })),
  });
  let grantRequest = '';
  await eventually(async () => {
    grantRequest = (await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.approvalRequest}'])).trim();
    assert.ok(grantRequest);
  }, 20_000);
  await approve(grantRequest);
  await grantActive(admin, namespace, grant);

  gateway = await startGateway(cluster, { namespace, name: 'audited' });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
  await eventually(async () => void (await bot.ok(['get', 'pods', '-n', target])), 20_000);
  await bot.ok(['create', 'configmap', 'ledger-config', '-n', target, '--from-literal=rate=7']);
  const secret = await bot.run(['get', 'secret', 'db', '-n', target]);
  assert.match(secret.stderr, /denied by rule "no-secrets"/);
  const held = await bot.run(['delete', 'configmap', 'ledger-config', '-n', target]);
  const deleteRequest = /ApprovalRequest \S+\/(\S+) is Pending/.exec(held.stderr)?.[1];
  assert.ok(deleteRequest, held.stderr);
  await approve(deleteRequest);
  await eventually(async () => assert.equal((await admin.ok(['get', 'approvalrequest', deleteRequest, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
  await bot.ok(['delete', 'configmap', 'ledger-config', '-n', target]);
  const escalation = await bot.run(['create', 'rolebinding', 'everyone-admin', '--clusterrole=cluster-admin', '--group=system:authenticated', '-n', target]);
  assert.match(escalation.stderr, /ApprovalRequest \S+ is Pending/);
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell' }, spec: { containers: [{ name: 'main', image: 'registry.example/app:1.0' }] } }) });
  await bot.ok(['wait', '--for=condition=Ready', 'pod/shell', '-n', target, '--timeout=60s']);
  const exec = await bot.run(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'read a; echo "got $a"'], { input: 'ledger\n' });
  assert.equal(exec.code, 0, exec.stderr);
  await gateway.stop(); // drains: every session is closed and uploaded

  // someone with access to the store rewrites the session that created the ConfigMap
  const env = { ...process.env, KUBEGATE_STORE: gateway.store };
  const sessions = JSON.parse((await run(['sessions', 'list', '--subject', subject, '--since', '1h', '-o', 'json'], env)).stdout) as SessionIndex[];
  const creating = sessions.find((session) => session.verbs.includes('create') && session.resources.includes('configmaps'))!;
  assert.ok(creating, 'the create session is indexed');
  const segment = join(gateway.recordings, creating.prefix, creating.writer!, 'segment-000000.jsonl');
  writeFileSync(segment, readFileSync(segment, 'utf8').replace('ledger-config', 'ledger-c0nfig'));

  const out = join(packageRoot(), 'test-results', 'report');
  mkdirSync(out, { recursive: true });
  const report = async (format: string) => {
    const file = join(out, `report.${format === 'ocsf' ? 'ocsf.jsonl' : format}`);
    const result = await run(['report', '--since', '1h', '--subject', subject, '--kubeconfig', admin.kubeconfig, '-o', format, '--out', file], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`^wrote ${file}: 1 grant\\(s\\), ${sessions.length} session\\(s\\) \\(1 tampered, 0 open\\)`));
    return readFileSync(file, 'utf8');
  };

  // JSON: the grant as the cluster holds it, every session, the tampered one named, the counts
  const json = JSON.parse(await report('json')) as JsonReport;
  assert.equal(json.grants.length, 1);
  const [{ grant: section, sessions: reported }] = json.grants as [JsonReport['grants'][0]];
  assert.equal(section.name, grant);
  assert.equal(section.record?.reason, 'quarterly ledger fix (CHG-7)');
  assert.equal(section.record?.requester, 'kubegate-admin');
  assert.equal(section.record?.phase, 'Active');
  assert.ok(section.record?.activatedAt && section.record.expiresAt);
  assert.deepEqual(section.record?.decisions.map(({ decision, by, reason }) => ({ decision, by, reason })), [{ decision: 'Approve', by: 'alice', reason: 'CHG-7 reviewed' }]);
  assert.equal(reported.length, sessions.length);
  const statuses = Object.fromEntries(reported.map((session) => [session.sessionId, session.verification.status]));
  assert.equal(statuses[creating.sessionId], 'tampered');
  assert.deepEqual(Object.values(statuses).filter((status) => status !== 'intact'), ['tampered']);
  assert.match(reported.find((session) => session.sessionId === creating.sessionId)!.verification.problems.join('\n'), /segment 0 changed/);
  const calls = reported.flatMap((session) => session.calls);
  const kinds = (kind: string) => calls.filter((call) => call.kinds.includes(kind as never));
  assert.deepEqual(kinds('denied').map((call) => [call.call, call.rule, call.status]), [[`get secrets ${target}/db`, 'no-secrets', 403]]);
  assert.deepEqual(kinds('approval-gated').map((call) => call.call), [`delete configmaps ${target}/ledger-config`, `delete configmaps ${target}/ledger-config`, `create rolebindings.rbac.authorization.k8s.io ${target}`]);
  assert.equal(kinds('approval-gated')[1]!.approval, deleteRequest, 'the retried delete names the approval that let it through');
  assert.deepEqual(kinds('approval-gated')[1]!.approvers, ['alice'], 'and who approved it, from the cluster');
  assert.deepEqual(kinds('escalation').map((call) => call.call), [`create rolebindings.rbac.authorization.k8s.io ${target}`]);
  assert.deepEqual(kinds('exec').map((call) => call.command), [['sh', '-c', 'read a; echo "got $a"']]);
  const summary = json.summary;
  assert.deepEqual({ ...summary }, {
    grants: 1, sessions: sessions.length, intact: sessions.length - 1, open: 0, tampered: 1,
    requests: reported.reduce((sum, session) => sum + session.counts.requests, 0),
    mutating: kinds('mutating').length, denied: 1, approvalGated: 3, exec: 1, escalations: 1, missing: [],
  });
  assert.ok(summary.mutating >= 5, `create, delete (held, then done), rolebinding, pod: ${summary.mutating}`);

  // CSV: one row per call, the tampered session's rows say so
  const rows = (await report('csv')).split('\r\n').slice(1, -1);
  assert.equal(rows.length, reported.reduce((sum, session) => sum + Math.max(1, session.calls.length), 0));
  const tamperedRows = rows.filter((line) => line.startsWith(creating.sessionId));
  assert.ok(tamperedRows.length > 0 && tamperedRows.every((line) => line.startsWith(`${creating.sessionId},tampered,`)));
  assert.ok(rows.filter((line) => !line.startsWith(creating.sessionId)).every((line) => /^[^,]+,intact,/.test(line)));

  // OCSF: one event per listed call, each valid against OCSF's own schema
  const events = (await report('ocsf')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  assert.equal(events.length, calls.length);
  const validate = ocsfApiActivityValidator();
  for (const event of events) assert.equal(validate(event), undefined, JSON.stringify(event));
  assert.ok(events.every((event) => event.actor.user.name === subject && event.metadata.version === '1.3.0'));
  const denied = events.find((event) => event.api.operation === 'get')!;
  assert.deepEqual([denied.activity_id, denied.status_id, denied.status_code, denied.unmapped.kubegate.rule], [2, 2, '403', 'no-secrets']);
  assert.deepEqual(events.find((event) => event.unmapped.kubegate.approval === deleteRequest)?.unmapped.kubegate.approvers, ['alice']);

  // HTML: self-contained; real Chromium renders it, and prints it to a PDF of several pages
  const html = await report('html');
  assert.doesNotMatch(html, /<script|<link|src=/);
  browser = await launchBrowser();
  const { page, problems } = await openPage(browser);
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(`file://${join(out, 'report.html')}`);
  assert.equal(await page.locator('.summary tr.alert td.num').first().textContent(), '1');
  const tamperedCard = page.locator('article.session.tampered');
  assert.equal(await tamperedCard.count(), 1);
  assert.match((await tamperedCard.textContent()) ?? '', new RegExp(`${creating.sessionId}.*TAMPERED.*segment 0 changed`, 's'));
  assert.equal(await page.locator('article.session').count(), sessions.length);
  assert.match((await page.locator('section.grant').textContent()) ?? '', /quarterly ledger fix \(CHG-7\).*alice.*CHG-7 reviewed/s);
  assert.match((await page.locator('article.session', { hasText: `approved by ApprovalRequest ${deleteRequest}` }).textContent()) ?? '', new RegExp(`${deleteRequest} \\(alice\\)`));
  await screenshot(page, 'report-html');
  await tamperedCard.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(screenshotDir, 'report-html-tampered.png') });
  await page.emulateMedia({ media: 'print' });
  await screenshot(page, 'report-html-print');
  const pdf = await page.pdf({ format: 'A4', printBackground: true });
  writeFileSync(join(out, 'report.pdf'), pdf);
  const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page(?!s)/g) ?? []).length;
  assert.ok(pages >= 2, `the summary, then the grant on a page of its own: ${pages} page(s)`);
  assert.deepEqual(requests.filter((url) => !url.startsWith('file://')), [], 'nothing fetched from the network');
  assert.deepEqual(problems, []);
  assert.ok(readdirSync(screenshotDir).includes('report-html.png'));
});
