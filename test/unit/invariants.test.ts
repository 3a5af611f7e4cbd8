/**
 * The security invariants of DESIGN.md are tests, not comments: each one has at least one integration
 * test (real API server, gateway, kubectl) whose title names it as `invariant N:`. A new invariant, or a
 * renamed test that drops its invariant, fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';

/** DESIGN.md's security invariants, by number, as one line each. */
const invariants: Record<number, string> = {
  1: 'a JIT token is useless against the API server directly',
  2: 'a token stops working within 1 s of its grant leaving Active',
  3: 'client-sent Authorization and Impersonate-* headers are stripped',
  4: "permissions come from the grant's binding alone",
  5: 'the recorded approver is the authenticated identity; requester and subject cannot approve',
  6: 'a single-use command approval admits exactly one matching request, once',
  7: 'nothing is forwarded unrecorded under fail-closed; the spool keeps what the store cannot take',
  8: 'recordings are tamper-evident and under object lock where the bucket supports it',
  9: 'masked values never reach the client or the store in clear text',
  10: 'the gateway reads every byte it checks as the receiving end does, or refuses it',
  11: 'a session ends within 2 s of its grant leaving Active; no input ends the gateway',
  12: "a grant's credential is readable by its subject alone",
};

function integrationTitles(): string[] {
  const dir = join(packageRoot(), 'test', 'integration');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.ts'))
    .flatMap((name) => [...readFileSync(join(dir, name), 'utf8').matchAll(/^test\(\s*(['"`])(.*?)\1/gm)].map((match) => match[2]!));
}

test('every security invariant of DESIGN.md has an integration test that names it', () => {
  const titles = integrationTitles();
  assert.ok(titles.length > 50, 'the integration tests were read');
  const named = new Set(titles.flatMap((title) => [...title.matchAll(/invariant (\d+):/g)].map((match) => Number(match[1]))));
  const missing = Object.entries(invariants).filter(([n]) => !named.has(Number(n))).map(([n, text]) => `invariant ${n} (${text})`);
  assert.deepEqual(missing, [], 'name the test that holds each of these: test("invariant N: …")');
  const unknown = [...named].filter((n) => !(n in invariants));
  assert.deepEqual(unknown, [], 'a test names an invariant DESIGN.md does not have');
});
