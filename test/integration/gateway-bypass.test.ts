/**
 * Runs the bypass corpus (bypass-corpus.ts) against the real gateway and API server: each trick is one
 * raw HTTPS request with the bot's JIT token, and what comes back and what was recorded is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureMasking, fixturePolicyRules, gatewayCall, gatewayFixture, recordedText } from '../harness/gateway-fixture.js';
import { eventually } from '../harness/workloads.js';
import { tricks, type TrickContext } from './bypass-corpus.js';

// escalations go to a human, as in DESIGN.md's sample policy: the `held` tricks are escalations in disguise
const setup = gatewayFixture({ rules: [...fixturePolicyRules, { name: 'escalation-needs-a-human', match: { escalation: true }, action: 'RequireApproval' }] });

/** The Secret every trick tries to read, with a value found nowhere else. */
async function secretContext(): Promise<TrickContext> {
  const { admin, target } = await setup();
  const value = `bypass-${randomBytes(12).toString('hex')}`;
  // larger than 128 KiB, so that the API server would compress it if asked
  const filler = join(mkdtempSync(join(tmpdir(), 'kubegate-bypass-')), 'filler');
  writeFileSync(filler, 'f'.repeat(200 * 1024));
  // by the admin: the trick is reading it back, not writing it
  await admin.ok(['create', 'secret', 'generic', 'bypass-target', '-n', target, `--from-literal=password=${value}`, `--from-file=filler=${filler}`]);
  const awsKey = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  return { target, secret: 'bypass-target', value, awsKey };
}

let context: Promise<TrickContext> | undefined;

/** A request target as the gateway records it: the policy's patterns masked. */
function recordedTarget(path: string): string {
  return fixtureMasking.patterns.reduce((text, pattern) => text.replace(new RegExp(pattern, 'g'), (match) => '*'.repeat(match.length)), path);
}

for (const trick of tricks) {
  test(`bypass corpus (invariant ${trick.invariant}): ${trick.name}`, async () => {
    const fixture = await setup();
    const c = await (context ??= secretContext());
    const path = trick.path(c);
    const headers = { authorization: `Bearer ${fixture.token}`, ...(trick.body ? { 'content-type': trick.body.contentType } : {}), ...trick.headers };
    const answer = await gatewayCall(fixture, path, headers, { method: trick.method ?? 'GET', ...(trick.body ? { body: Buffer.from(trick.body.text(c)) } : {}) });
    const clear = [c.value, Buffer.from(c.value).toString('base64'), c.awsKey];
    for (const text of clear) assert.ok(!answer.body.includes(text), `the answer (${answer.status}) carries the Secret in clear: ${answer.body.slice(0, 300)}`);
    if (trick.expect === 'held') {
      assert.equal(answer.status, 403, answer.body.slice(0, 300));
      assert.ok(answer.body.includes('KG_APPROVAL_REQUIRED'), `held for approval: ${answer.body.slice(0, 300)}`);
      return;
    }
    if (trick.expect === 'refused') {
      assert.ok(answer.status >= 400 && answer.status < 500, `refused, not ${answer.status}: ${answer.body.slice(0, 300)}`);
      return;
    }
    if (trick.expect === 'denied') {
      assert.equal(answer.status, 403, answer.body.slice(0, 300));
      assert.match(answer.body, /"reason":"KG_DENIED"/);
      return;
    }
    const recordedPath = `"path":${JSON.stringify(recordedTarget(path))}`;
    await eventually(async () => assert.ok(recordedText(fixture.gateway).includes(recordedPath), `the request was recorded: ${path}`), 5000);
    const recorded = recordedText(fixture.gateway);
    for (const text of clear) assert.ok(!recorded.includes(text), 'the recording carries the Secret in clear');
  });
}

test('invariant 10: a YAML pod that asks for nothing is read and served, not held for being YAML', async () => {
  const fixture = await setup();
  const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: yaml-plain, labels: {debug: "yes"}}\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - {name: c, image: nginx}\n';
  const path = `/api/v1/namespaces/${fixture.target}/pods`;
  const answer = await gatewayCall(fixture, path, { authorization: `Bearer ${fixture.token}`, 'content-type': 'application/yaml' }, { method: 'POST', body: Buffer.from(text) });
  assert.equal(answer.status, 201, answer.body.slice(0, 300));
  assert.equal((await fixture.admin.ok(['get', 'pod', 'yaml-plain', '-n', fixture.target, '-o', 'jsonpath={.metadata.labels.debug}'])).trim(), 'yes');
});
