/**
 * Approver notifications with the real operator and API server: a policy's `approvers.notify` webhook
 * (here a node:http receiver on loopback) gets one Slack-compatible message per ApprovalRequest once
 * Pending, naming who asks, for whom, what, under which rule, and the console's page; the request's
 * `Notified` condition says how it went; a failing webhook is retried with backoff and never holds up
 * the approval; the CRD refuses a webhook URL that is neither https nor loopback.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import type { Kubectl } from '../harness/kubectl.js';
import { eventually } from '../harness/workloads.js';
import { packageRoot } from '../../src/util/package-root.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');

interface Received {
  path: string;
  body: { text: string; blocks: Array<Record<string, any>> };
}

/** A webhook on loopback: every POST's path and JSON body; answers `status()` (200 by default). */
async function receiver(): Promise<{ url: string; received: Received[]; status: { code: number }; close(): Promise<void> }> {
  const received: Received[] = [];
  const status = { code: 200 };
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(body) as Received['body'] });
      response.writeHead(status.code).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, status, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let operator: RunningOperator | undefined;
let webhook: Awaited<ReturnType<typeof receiver>> | undefined;
after(async () => {
  await operator?.stop();
  await webhook?.close();
});

async function setup(): Promise<{ cluster: TestCluster; admin: Kubectl; namespace: string; target: string; hook: NonNullable<typeof webhook> }> {
  const cluster = await testCluster();
  operator ??= await startOperator(cluster);
  webhook ??= await receiver();
  const namespace = await cluster.namespace('notify');
  const target = await cluster.namespace('payments');
  const admin = await cluster.kubectl();
  await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  return { cluster, admin, namespace, target, hook: webhook };
}

async function policyNotifying(admin: Kubectl, namespace: string, name: string, notify: object): Promise<void> {
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, name, { approvers: { groups: ['sre-leads'], minApprovals: 1, notify } })) });
}

/** A grant needing approval under `policy`, asked for by `requester`; the name of its ApprovalRequest. */
async function grantNeedingApproval(admin: Kubectl, namespace: string, target: string, policy: string, requester: string): Promise<string> {
  const grant = uniqueName('deploy-bot');
  await admin.ok(['create', '-f', '-', '--as', requester, '--as-group', 'system:masters'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '30m', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: policy }, approval: { required: true }, requestedBy: requester })),
  });
  let request = '';
  await eventually(async () => assert.ok((request = (await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.approvalRequest}'])).trim())), 20_000);
  return request;
}

/** The request's condition `type`: its status, reason and message. */
async function condition(admin: Kubectl, namespace: string, request: string, type: string): Promise<{ status: string; reason: string; message: string } | undefined> {
  const object = JSON.parse(await admin.ok(['get', 'approvalrequest', request, '-n', namespace, '-o', 'json'])) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
  const found = object.status?.conditions?.find((entry) => entry.type === type);
  return found && { status: found.status, reason: found.reason, message: found.message };
}

async function approve(cluster: TestCluster, namespace: string, request: string): Promise<void> {
  const kubeconfig = cluster.kubeconfigFile(await cluster.tokenFor({ user: uniqueName('carol'), groups: ['sre-leads'] }));
  await run(kubegate, ['approve', request, '-n', namespace, '--reason', 'looks right', '--kubeconfig', kubeconfig]);
}

test('a pending grant approval is posted once to the webhook in its Secret, with requester, subject, access, rule and the console link', { timeout: 120_000 }, async () => {
  const { cluster, admin, namespace, target, hook } = await setup();
  const path = `/hooks/${uniqueName('secret')}`;
  await admin.ok(['create', 'secret', 'generic', 'approver-webhook', '-n', namespace, `--from-literal=url=${hook.url}${path}`]);
  await policyNotifying(admin, namespace, 'prod', { webhookSecretRef: { name: 'approver-webhook', key: 'url' }, consoleUrl: 'http://127.0.0.1:8090/' });
  const requester = uniqueName('dev');
  const request = await grantNeedingApproval(admin, namespace, target, 'prod', requester);
  await eventually(async () => assert.deepEqual(await condition(admin, namespace, request, 'Notified'), { status: 'True', reason: 'Delivered', message: "the approvers' webhook took the message" }), 20_000);
  const posts = hook.received.filter((post) => post.path === path);
  assert.equal(posts.length, 1);
  const { text, blocks } = posts[0]!.body;
  const link = `http://127.0.0.1:8090/approvals/${namespace}/${request}`;
  assert.match(text, new RegExp(`approval needed for ${requester} for deploy-bot: grant \\S+: edit in ${target} for 30m \\(grant approval, policy ${namespace}/prod\\)`));
  assert.ok(text.includes(link) && text.includes(`kubegate approve ${request} -n ${namespace}`), text);
  assert.deepEqual(blocks.map((block) => block.type), ['header', 'section', 'section', 'actions', 'context']);
  assert.equal(blocks[3]!.elements[0].url, link);
  assert.deepEqual(blocks[2]!.fields.slice(0, 2), [{ type: 'mrkdwn', text: `*Requester*\n${requester}` }, { type: 'mrkdwn', text: '*Subject*\ndeploy-bot' }]);

  // approving it reconciles it again: no second message
  await approve(cluster, namespace, request);
  await eventually(async () => assert.equal((await admin.ok(['get', 'approvalrequest', request, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
  assert.equal(hook.received.filter((post) => post.path === path).length, 1, 'once per ApprovalRequest');
});

test('a failing webhook: Notified=False with why, the approval goes on regardless, and the message is retried with backoff until it is taken', { timeout: 120_000 }, async () => {
  const { cluster, admin, namespace, target, hook } = await setup();
  const path = `/hooks/${uniqueName('failing')}`;
  await policyNotifying(admin, namespace, 'flaky', { webhookUrl: `${hook.url}${path}` });
  hook.status.code = 503;
  const first = await grantNeedingApproval(admin, namespace, target, 'flaky', uniqueName('dev'));
  await eventually(async () => assert.deepEqual(await condition(admin, namespace, first, 'Notified'), { status: 'False', reason: 'WebhookFailed', message: 'the webhook answered 503' }), 20_000);
  await approve(cluster, namespace, first);
  await eventually(async () => assert.equal((await admin.ok(['get', 'approvalrequest', first, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);

  const second = await grantNeedingApproval(admin, namespace, target, 'flaky', uniqueName('dev'));
  await eventually(async () => assert.equal((await condition(admin, namespace, second, 'Notified'))?.status, 'False'), 20_000);
  hook.status.code = 200;
  await eventually(async () => assert.equal((await condition(admin, namespace, second, 'Notified'))?.status, 'True'), 30_000);
  const attempts = hook.received.filter((post) => post.path === path && post.body.text.includes(second));
  assert.ok(attempts.length >= 2, `retried: ${attempts.length} attempts`);
});

test('the CRD refuses a webhook URL that is not https (except to loopback), and notify naming both a URL and a Secret', async () => {
  const { admin, namespace } = await setup();
  const refusal = async (notify: object) => {
    const result = await admin.run(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, uniqueName('bad'), { approvers: { groups: ['sre-leads'], notify } })) });
    assert.notEqual(result.code, 0);
    return result.stderr;
  };
  assert.match(await refusal({ webhookUrl: 'http://hooks.example.com/T000/B000/XXX' }), /webhookUrl must be an https URL \(http only to 127\.0\.0\.1, ::1 or localhost\)/);
  assert.match(await refusal({ webhookUrl: 'not a url' }), /webhookUrl must be an https URL/);
  assert.match(await refusal({ webhookUrl: 'https://hooks.example.com/x', webhookSecretRef: { name: 's', key: 'k' } }), /notify names exactly one of webhookUrl and webhookSecretRef/);
  assert.match(await refusal({ webhookUrl: 'https://hooks.example.com/x', consoleUrl: 'ftp://console' }), /consoleUrl must be an http or https URL/);
  await admin.ok(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, uniqueName('good'), { approvers: { groups: ['sre-leads'], notify: { webhookUrl: 'https://hooks.example.com/services/T0/B0/x', consoleUrl: 'https://kubegate.example.com' } } })) });
});
