/** The console's sign-in: one-time login links, cookie sessions and CSRF tokens, on a clock moved by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleViewer, LoginRefused, localPath } from '../../src/console/oidc-login.js';
import type { IncomingMessage } from 'node:http';
import { csrfMatches, LoginLinks, loginLinkTtlMs, parseViewer, sessionTtlMs, ViewerSessions } from '../../src/console/auth.js';
import { cookieValue } from '../../src/console/http.js';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { isLoopback, startConsole } from '../../src/console/server.js';
import { openStore } from '../../src/recording/open-store.js';
import { isPageRoute } from '../../src/console/static.js';
import { ManualClock } from '../harness/manual-clock.js';

const alice = { user: 'alice', groups: ['sre-leads'] };

test('a login token signs in once, only within 15 minutes, and a spent or expired one is gone for good', () => {
  const clock = new ManualClock();
  const links = new LoginLinks(clock);
  const token = links.issue(alice);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
  assert.notEqual(links.issue(alice), token);
  assert.deepEqual(links.redeem(token), alice);
  assert.equal(links.redeem(token), undefined, 'single use');

  const late = links.issue(alice);
  clock.advance(loginLinkTtlMs - 1);
  const onTime = links.issue(alice);
  clock.advance(1);
  assert.equal(links.redeem(late), undefined, 'expired at 15 minutes');
  assert.deepEqual(links.redeem(onTime), alice);
  assert.equal(links.redeem(''), undefined);
  assert.equal(links.redeem('made-up'), undefined);
});

test('a viewer session lasts 12 hours from sign-in, ends on sign-out, and its CSRF token is its own', () => {
  const clock = new ManualClock();
  const sessions = new ViewerSessions(clock);
  const first = sessions.open(alice);
  const second = sessions.open({ user: 'bob', groups: [] });
  assert.notEqual(first.id, second.id);
  assert.notEqual(first.csrf, first.id);
  assert.equal(sessions.get(first.id)?.viewer, alice);
  assert.equal(sessions.get(undefined), undefined);
  assert.equal(sessions.get('unknown'), undefined);

  assert.ok(csrfMatches(first, first.csrf));
  assert.ok(!csrfMatches(first, second.csrf));
  assert.ok(!csrfMatches(first, undefined));
  assert.ok(!csrfMatches(first, [first.csrf]));
  assert.ok(!csrfMatches(first, first.csrf.slice(1)));

  sessions.close(second.id);
  assert.equal(sessions.get(second.id), undefined);
  clock.advance(sessionTtlMs - 1);
  assert.ok(sessions.get(first.id));
  clock.advance(1);
  assert.equal(sessions.get(first.id), undefined);
});

test('--login-as reads USER[:GROUP,GROUP…]', () => {
  assert.deepEqual(parseViewer('alice'), { user: 'alice', groups: [] });
  assert.deepEqual(parseViewer('alice:sre-leads, engineers'), { user: 'alice', groups: ['sre-leads', 'engineers'] });
  assert.deepEqual(parseViewer('system:serviceaccount'), { user: 'system', groups: ['serviceaccount'] }, 'the first colon separates the groups');
  assert.throws(() => parseViewer(':admins'), /give a user name/);
});

test('the session cookie is read from among others; plain HTTP only on loopback; the page routes', () => {
  const request = (cookie?: string) => ({ headers: cookie === undefined ? {} : { cookie } }) as IncomingMessage;
  assert.equal(cookieValue(request('a=1; kubegate_console=abc; b=2'), 'kubegate_console'), 'abc');
  assert.equal(cookieValue(request('kubegate_console_x=1'), 'kubegate_console'), undefined);
  assert.equal(cookieValue(request(), 'kubegate_console'), undefined);
  assert.ok(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost'));
  assert.ok(!isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('::'));
  for (const path of ['/', '/sessions/abc', '/approvals', '/approvals/ns/name', '/grants', '/live']) assert.ok(isPageRoute(path), path);
  for (const path of ['/sessions', '/sessions/a/b', '/approvals/ns', '/api/me', '/index.html', '/assets/app.js']) assert.ok(!isPageRoute(path), path);
});

test('plain HTTP beyond loopback is refused before anything starts', async () => {
  const options = { kubeconfig: new k8s.KubeConfig(), store: openStore('file:///nonexistent'), logger: pino({ enabled: false }) };
  await assert.rejects(startConsole({ ...options, listen: { host: '0.0.0.0', port: 0 } }), /--listen 0\.0\.0\.0:0 is not a loopback address: serving beyond this machine needs HTTPS \(--tls-dir/);
});

test('after signing in at the identity provider the browser goes back to a path of this console only', () => {
  assert.equal(localPath('/approvals/payments/ar-1?x=1'), '/approvals/payments/ar-1?x=1');
  for (const elsewhere of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'approvals', '/a b', '/a\x01b', '/caf\u00e9', '', null]) assert.equal(localPath(elsewhere), '/', String(elsewhere));
});

test('an identity provider that names a system: user or group signs nobody in (the console impersonates its viewers cluster-wide)', () => {
  assert.deepEqual(consoleViewer({ username: 'oidc:alice', groups: ['oidc:sre'] }), { user: 'oidc:alice', groups: ['oidc:sre'] });
  for (const identity of [{ username: 'alice', groups: ['system:masters'] }, { username: 'system:serviceaccount:kubegate-system:kubegate-operator', groups: [] }, { username: 'system:admin', groups: [] }]) {
    assert.throws(() => consoleViewer(identity), (error: unknown) => error instanceof LoginRefused && /system:/.test((error as Error).message), JSON.stringify(identity));
  }
});
