/**
 * The console pages' text work, apart from the DOM (web/text.ts, web/format.ts): what the live tail
 * is given, what a live request is called, where a search hit is marked, the rows a terminal player needs, and
 * how times, subjects and a grant's access read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { castRows, matchParts, plainTerminalText, requestTarget } from '../../web/text.js';
import { accessLines, nameOf, relative, span } from '../../web/format.js';

test('the live tail drops escape sequences and carriage returns, keeps the text', () => {
  assert.equal(plainTerminalText('\x1b[32mok\x1b[0m\r\n\x1b]0;title\x07$ ls\r\n'), 'ok\n$ ls\n');
});

test('a live request reads as what it touched, its path when it names no resource', () => {
  assert.equal(requestTarget({ path: '/api/v1/namespaces/shop/pods/web-1/exec?command=sh', resource: 'pods', namespace: 'shop', name: 'web-1' }), 'pods/exec shop/web-1');
  assert.equal(requestTarget({ path: '/api/v1/namespaces/shop/pods', resource: 'pods', namespace: 'shop' }), 'pods shop');
  assert.equal(requestTarget({ path: '/version' }), '/version');
});

test('a search hit is cut at every occurrence of the text, in any case, regex characters taken literally', () => {
  assert.deepEqual(matchParts('cat /etc/Hostname; hostname', 'hostname'), [
    { text: 'cat /etc/', match: false },
    { text: 'Hostname', match: true },
    { text: '; ', match: false },
    { text: 'hostname', match: true },
  ]);
  assert.deepEqual(matchParts('a.b axb', 'a.b'), [{ text: 'a.b', match: true }, { text: ' axb', match: false }]);
  assert.deepEqual(matchParts('line', ''), [{ text: 'line', match: false }]);
});

test('spans, relative times, subjects and access read as a person writes them', () => {
  assert.equal(span(42_000), '42s');
  assert.equal(span(3 * 3600_000 + 5 * 60_000 + 7_000), '3h 5m');
  assert.equal(relative('2026-01-01T00:10:00Z', Date.parse('2026-01-01T00:00:00Z')), 'in 10m');
  assert.equal(relative('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:00:30Z')), '30s ago');
  assert.equal(nameOf({ kind: 'ServiceAccount', namespace: 'ci', name: 'runner' }), 'ServiceAccount/ci/runner');
  assert.equal(nameOf({ namespace: 'kubegate-system', name: 'deploy-bot' }), 'kubegate-system/deploy-bot');
  assert.equal(nameOf('User/alice'), 'User/alice');
  assert.deepEqual(accessLines([{ namespace: 'payments', clusterRole: 'edit' }, { clusterRole: 'view' }]), ['edit in payments', 'view (cluster-wide)']);
});

test('a terminal player is as tall as the stream printed, 4 rows at least, the recorded height at most', () => {
  const cast = (height: number, events: [string, string][]) => [JSON.stringify({ version: 2, width: 80, height }), ...events.map(([type, data], i) => JSON.stringify([i, type, data])), ''].join('\n');
  assert.equal(castRows(cast(24, [['o', 'one line\r\n']])), 4);
  assert.equal(castRows(cast(24, [['o', 'a\r\nb\r\n'], ['i', 'typed\n'], ['o', 'c\r\nd\r\ne\r\n']])), 7, 'input is not printed lines');
  assert.equal(castRows(cast(10, [['o', 'x\n'.repeat(50)]])), 10);
});
