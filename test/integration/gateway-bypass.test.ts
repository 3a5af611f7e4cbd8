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
import { fixtureMasking, gatewayCall, gatewayFixture, recordedText } from '../harness/gateway-fixture.js';
import { eventually } from '../harness/workloads.js';
import { tricks, type TrickContext } from './bypass-corpus.js';

const setup = gatewayFixture();

/** The Secret every trick tries to read, with a value found nowhere else. */
async function secretContext(): Promise<TrickContext> {
  const { bot, target } = await setup();
  const value = `bypass-${randomBytes(12).toString('hex')}`;
  // larger than 128 KiB, so that the API server would compress it if asked
  const filler = join(mkdtempSync(join(tmpdir(), 'kubegate-bypass-')), 'filler');
  writeFileSync(filler, 'f'.repeat(200 * 1024));
  await bot.ok(['create', 'secret', 'generic', 'bypass-target', '-n', target, `--from-literal=password=${value}`, `--from-file=filler=${filler}`]);
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
    const body = trick.body ? Buffer.from(trick.body(c)) : undefined;
    const answer = await gatewayCall(fixture, path, { authorization: `Bearer ${fixture.token}`, ...trick.headers }, { method: trick.method ?? 'GET', ...(body ? { body } : {}) });
    const clear = [c.value, Buffer.from(c.value).toString('base64'), c.awsKey];
    for (const text of clear) assert.ok(!answer.body.includes(text), `the answer (${answer.status}) carries the Secret in clear: ${answer.body.slice(0, 300)}`);
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
