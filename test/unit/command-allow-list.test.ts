/**
 * The allow-list (src/policy/command-allow-list.ts): a line becomes argv only when a shell would run
 * exactly those words, and argv is matched word for word. The evasions that get past deny patterns
 * are refused here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argvAllowed, argvPatternProblem, splitCommandLine } from '../../src/policy/command-allow-list.js';

const allow = [['ls'], ['ls', '-la'], ['cat', '*'], ['kubectl-debug', 'logs', '**']];

function allowed(line: string): boolean {
  const split = splitCommandLine(line);
  return 'argv' in split && argvAllowed(split.argv, allow);
}

test('a simple command splits as a shell would: quotes, escapes, blanks', () => {
  assert.deepEqual(splitCommandLine(`  cat  '/etc/my file' "a \\"b\\"" c\\ d\t`), { argv: ['cat', '/etc/my file', 'a "b"', 'c d'] });
  assert.deepEqual(splitCommandLine(`l"s" ''`), { argv: ['ls', ''] });
  assert.deepEqual(splitCommandLine(`ls --color=auto`), { argv: ['ls', '--color=auto'] });
  assert.deepEqual(splitCommandLine(`echo 'a;b|c$d'`), { argv: ['echo', 'a;b|c$d'] });
});

test('anything a shell would compute is not a simple command', () => {
  for (const [line, reason] of [
    ['ls; rm -rf /', '";"'],
    ['base64 -d | sh', '"|"'],
    ['ls && rm -rf /', '"&"'],
    ['rm${IFS}-rf${IFS}/', '"$"'],
    ['cat "$(echo /etc/shadow)"', '"$" inside double quotes'],
    ['cat `id`', '"`"'],
    ['cat /etc/*', '"*"'],
    ['cat ~root/.ssh/id_rsa', '"~"'],
    ['PATH=/tmp ls', 'variable assignment'],
    ['ls > /etc/passwd', '">"'],
    ["cat 'unclosed", 'unclosed quote'],
    ['ls\x1b[D', 'control character'],
    ['ls \\', 'trailing backslash'],
    ['^ls^rm -rf /', '"^"'],
    ['!!', '"!"'],
  ] as const) {
    const split = splitCommandLine(line);
    assert.ok('refused' in split && split.refused.includes(reason), `${JSON.stringify(line)}: ${JSON.stringify(split)}`);
  }
});

test('argv matches an entry exactly: * is one argument, ** any further ones', () => {
  assert.ok(allowed('ls'));
  assert.ok(allowed('ls -la'));
  assert.ok(!allowed('ls -l'));
  assert.ok(allowed('cat /etc/hosts'));
  assert.ok(!allowed('cat'), '* needs an argument');
  assert.ok(!allowed('cat a b'));
  assert.ok(allowed('kubectl-debug logs'));
  assert.ok(allowed('kubectl-debug logs -f pod'));
  assert.ok(!allowed('kubectl-debug exec'));
});

test('the evasions of deny patterns are refused by the list', () => {
  for (const line of ['rm -rf /', 'rm -r -f /', 'rm -fr /', '/bin/rm -rf /', 'r""m -rf /', 'base64 -d <<< cm0gLXJmIC8K | sh', 'rm${IFS}-rf${IFS}/', 'ls;rm -rf /', 'ls\nrm']) {
    assert.ok(!allowed(line), line);
  }
  assert.ok(!argvAllowed(['rm', '-r', '-f', '/'], allow), 'exec argv is matched as it is');
  assert.ok(argvAllowed(['cat', '/etc/hosts'], allow));
});

test('entries are checked when the policy is validated', () => {
  assert.equal(argvPatternProblem([]), 'an entry needs at least the command');
  assert.match(argvPatternProblem(['*'])!, /cannot be a wildcard/);
  assert.match(argvPatternProblem(['ls', '**', '-l'])!, /only be the last/);
  assert.equal(argvPatternProblem(['ls', '**']), undefined);
});
