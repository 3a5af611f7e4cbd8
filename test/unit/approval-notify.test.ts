/** The approvers' message for a held request, and which webhook URLs the operator will POST to. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApprovalRequest } from '../../src/api/index.js';
import { notificationMessage, webhookUrlProblem } from '../../src/operator/approval-notify.js';

test('a held request’s message names the exact request, its command, the rule, the parties and the console page', () => {
  const request = {
    metadata: { namespace: 'gw', name: 'create-pods-x7k2p' },
    spec: {
      policyRef: { name: 'prod' },
      request: { verb: 'create', path: '/api/v1/namespaces/app/pods/web-0/exec?command=rm&command=-rf&command=%2Fdata', command: ['rm', '-rf', '/data'], rule: 'exec-needs-a-human', policy: 'prod' },
      requester: 'alice',
      subject: 'kubegate:user:deploy-bot',
      reason: 'held by rule exec-needs-a-human',
      expiresAt: '2026-12-01T19:00:00Z',
    },
  } as unknown as ApprovalRequest;
  const { text, blocks } = notificationMessage(request, undefined, 'https://kubegate.example.com/');
  assert.equal(
    text,
    'kubegate: approval needed for alice for kubegate:user:deploy-bot: create /api/v1/namespaces/app/pods/web-0/exec?command=rm&command=-rf&command=%2Fdata (command: rm -rf /data) (rule exec-needs-a-human, policy gw/prod). Review: https://kubegate.example.com/approvals/gw/create-pods-x7k2p; or kubegate approve create-pods-x7k2p -n gw --reason "…"',
  );
  assert.deepEqual(blocks[3], { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in the kubegate console' }, url: 'https://kubegate.example.com/approvals/gw/create-pods-x7k2p' }] });
  assert.equal(notificationMessage(request, undefined).blocks.some((block) => (block as { type: string }).type === 'actions'), false, 'no console, no button');
});

test('webhook URLs: https anywhere, http only to loopback', () => {
  for (const ok of ['https://hooks.slack.com/services/T0/B0/x', 'http://127.0.0.1:9000/hook', 'http://[::1]:9000/', 'http://localhost/hook']) assert.equal(webhookUrlProblem(ok), undefined, ok);
  for (const bad of ['http://hooks.example.com/x', 'http://127.0.0.2/', 'ftp://127.0.0.1/', 'not a url']) assert.ok(webhookUrlProblem(bad), bad);
});
