/**
 * The stdin guard (src/gateway/stdin-guard.ts) with the real policy engine: lines are judged when they
 * end and, as they would run now, on every read — what decides whether the client's bytes may go on.
 * Each case is one of issue 10's evasions of the stdin check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, validatePolicy, type PolicySpecInput } from '../../src/policy/compile.js';
import { PolicyEngine } from '../../src/gateway/policy-engine.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';
import { StdinGuard, stdinReaders, type StdinVerdict } from '../../src/gateway/stdin-guard.js';
import type { StreamFrame } from '../../src/gateway/streams/frame.js';

const ref = { namespace: 'kubegate-system', name: 'prod' };
const guardrails: PolicySpecInput = { rules: [{ name: 'no-rm-rf', match: { subresources: ['exec'], command: 'rm\\s+-rf' }, action: 'Deny' }] };
const allowList: PolicySpecInput = { commands: { mode: 'AllowList', allow: [['ls'], ['cat', '*'], ['sh']] } };

function guard(spec: PolicySpecInput, url = '/api/v1/namespaces/prod/pods/p/exec?command=sh&stdin=true'): StdinGuard {
  return new StdinGuard(PolicyEngine.load(compilePolicy(ref, spec)), parseRequestAttributes('POST', url));
}

function stdin(text: string, stream = 1): StreamFrame {
  return { direction: 'client-to-server', channel: 'stdin', data: Buffer.from(text), stream, timeMs: 0 };
}

function stdinClose(stream = 1): StreamFrame {
  return { direction: 'client-to-server', channel: 'close', data: Buffer.from('stdin'), stream, timeMs: 0 };
}

/** The verdict of each read, one frame a read. */
function verdicts(g: StdinGuard, ...frames: StreamFrame[]): string[] {
  return frames.map((frame) => describe(g.check([frame])));
}

function describe(verdict: StdinVerdict): string {
  return verdict.blocked ? `blocked ${verdict.blocked.rule}` : verdict.release ? 'release' : 'hold';
}

test('a line matching a deny pattern is held while typed and refused when it ends; an edited-away one goes on', () => {
  assert.deepEqual(verdicts(guard(guardrails), stdin('rm -r'), stdin('f'), stdin(' /'), stdin('\n')), ['release', 'hold', 'hold', 'blocked no-rm-rf']);
  const tty = guard(guardrails, '/api/v1/namespaces/prod/pods/p/exec?command=sh&stdin=true&tty=true');
  assert.deepEqual(verdicts(tty, stdin('rm -rf /'), stdin('\x7f\x7f\x7f\x7f'), stdin('\r')), ['hold', 'release', 'release']);
  assert.deepEqual(verdicts(guard(guardrails, '/api/v1/namespaces/prod/pods/p/exec?command=sh&tty=true'), stdin('rm -rf /tmpx\x7f\x7f\x7f\x7f\x7f\r')), ['blocked no-rm-rf']);
});

test('a last line without newline is refused at stdin close; backslash-newline is one line', () => {
  assert.deepEqual(verdicts(guard(guardrails), stdin('ls\nrm -rf /'), stdinClose()), ['hold', 'blocked no-rm-rf']);
  assert.deepEqual(verdicts(guard(guardrails), stdin('rm -r\\\n'), stdin('f /\n')), ['release', 'blocked no-rm-rf']);
});

test('each SPDY stdin stream has its own line: two streams cannot join into one line unseen, nor hide one', () => {
  const g = guard(guardrails);
  assert.deepEqual(verdicts(g, stdin('rm -r', 1), stdin('f /\n', 3)), ['release', 'release']);
  assert.deepEqual(verdicts(g, stdin('f /\n', 1)), ['blocked no-rm-rf']);
  assert.deepEqual(verdicts(guard(guardrails), stdin('rm -rf', 1), stdin('ls\n', 3)), ['hold', 'hold'], 'a refused line on one stream holds the others');
});

test('a command rule on exec covers the stdin of attach (kubectl attach, run -it, debug)', () => {
  const attach = guard(guardrails, '/api/v1/namespaces/prod/pods/p/attach?stdin=true&tty=true');
  assert.deepEqual(verdicts(attach, stdin('rm -rf /\r')), ['blocked no-rm-rf']);
  const attachOnly = guard({ rules: [{ name: 'no-rm-rf', match: { subresources: ['attach'], command: 'rm\\s+-rf' }, action: 'Deny' }] });
  assert.deepEqual(verdicts(attachOnly, stdin('rm -rf /\n')), ['blocked no-rm-rf'], 'and one on attach covers exec');
});

test('attach without tty assumes every reader: a CR ends a line even so, and DEL edits it', () => {
  const attach = guard(guardrails, '/api/v1/namespaces/prod/pods/p/attach?stdin=true');
  assert.deepEqual(verdicts(attach, stdin('rm -rfx\x7f /\r')), ['blocked no-rm-rf']);
});

test('uncertain lines: Checked judges the known characters, Strict refuses them', () => {
  const url = '/api/v1/namespaces/prod/pods/p/exec?command=bash&stdin=true&tty=true';
  assert.deepEqual(verdicts(guard(guardrails, url), stdin('rm -rf /tm\t\r')), ['blocked no-rm-rf']);
  assert.deepEqual(verdicts(guard(guardrails, url), stdin('\x1b[A\r')), ['release']);
  const strict = guard({ ...guardrails, commands: { stdin: 'Strict' } }, url);
  // after ^U the recalled text may still be there (the cursor could have moved into it); ^C drops the line for sure
  assert.deepEqual(verdicts(strict, stdin('\x1b[A'), stdin('\x15'), stdin('\x03'), stdin('\x1b[A\r')), ['hold', 'hold', 'release', 'blocked (stdin: Strict)']);
});

test('allow-list: only exact commands go on, prefixes wait, and every evasion is refused', () => {
  assert.deepEqual(verdicts(guard(allowList), stdin('l'), stdin('s'), stdin('\n')), ['hold', 'release', 'release']);
  for (const line of ['rm -rf /', 'rm -r -f /', 'base64 -d | sh', 'rm${IFS}-rf${IFS}/', "c'a't /etc/*", 'ls; rm -rf /', 'cat "$(id)"']) {
    assert.deepEqual(verdicts(guard(allowList), stdin(`${line}\n`)), ['blocked (allow-list)'], line);
  }
  assert.deepEqual(verdicts(guard(allowList), stdin("c'a't '/etc/my file'\n")), ['release']);
  const tty = '/api/v1/namespaces/prod/pods/p/exec?command=sh&stdin=true&tty=true';
  assert.deepEqual(verdicts(guard(allowList, tty), stdin('ls\x1b[A\r')), ['blocked (allow-list)'], 'an uncertain line is never on the list');
  assert.deepEqual(verdicts(guard(allowList), stdin('ls'), stdinClose()), ['release', 'release']);
});

test('allow-list: an exec command is matched as argv at the request, whatever the rules allow', () => {
  const engine = PolicyEngine.load(compilePolicy(ref, { ...allowList, rules: [{ name: 'all-exec', match: { subresources: ['exec'] }, action: 'Allow' }] }));
  const decide = (query: string) => engine.decide(parseRequestAttributes('POST', `/api/v1/namespaces/prod/pods/p/exec?${query}`), { user: 'u', command: new URLSearchParams(query).getAll('command') });
  assert.equal(decide('command=cat&command=/etc/hosts').action, 'Allow');
  assert.deepEqual(decide('command=rm&command=-r&command=-f&command=/'), { action: 'Deny', rule: '(allow-list)', message: 'denied by policy kubegate-system/prod: the command is not on its allow-list', byCommand: true });
  assert.equal(decide('command=sh&command=-c&command=ls').action, 'Deny');
  assert.equal(engine.decide(parseRequestAttributes('GET', '/api/v1/namespaces/prod/pods'), { user: 'u' }).action, 'Allow', 'other requests are left to the rules');
});

test('the policy is validated: bad entries and an empty AllowList are reported', () => {
  assert.deepEqual(validatePolicy({ commands: { mode: 'AllowList', allow: [['*']] } }).map((p) => p.field), ['spec.commands.allow[0]']);
  assert.deepEqual(validatePolicy({ commands: { mode: 'AllowList' } }).map((p) => p.field), ['spec.commands.allow']);
});

test('tty is read as the API server reads it: any first value but 0 or false is a TTY', () => {
  const readers = (query: string) => stdinReaders(parseRequestAttributes('POST', `/api/v1/namespaces/prod/pods/p/exec?command=sh&${query}`));
  for (const query of ['tty=true', 'tty=1', 'tty=TRUE', 'tty=yes', 'tty=', 'tty=1&tty=false']) assert.deepEqual(readers(query), ['canonical', 'readline'], query);
  for (const query of ['', 'tty=false', 'tty=False', 'tty=0', 'tty=0&tty=true', 'TTY=true']) assert.deepEqual(readers(query), ['pipe'], query);
  const attach = stdinReaders(parseRequestAttributes('POST', '/api/v1/namespaces/prod/pods/p/attach?stdin=true'));
  assert.deepEqual(attach, ['pipe', 'canonical', 'readline']);
  assert.deepEqual(verdicts(guard(guardrails, '/api/v1/namespaces/prod/pods/p/exec?command=sh&tty=1'), stdin('rm -rX\x7ff /\r')), ['blocked no-rm-rf']);
});

test('a policy without command rules or allow-list lets everything go unread', () => {
  assert.deepEqual(verdicts(guard({}), stdin('rm -rf /\n')), ['release']);
});
