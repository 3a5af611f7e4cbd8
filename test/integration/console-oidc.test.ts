/**
 * Signing in to the console at the identity provider a SessionPolicy names (`kubegate console
 * --oidc-from-policy`), against the real parts: the sandbox's OpenID Provider (oidc-provider) and its
 * own login page in headless Chromium, the real `kubegate console` process, the API server and the
 * operator. The person is named as the gateway names them (the policy's claim mappings), and acts as
 * that name (invariant 5); a sign-in's state works once and only in the browser that began it, and an
 * ID token for another audience, or without this sign-in's nonce, is refused.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { OidcLogin } from '../../src/console/oidc-login.js';
import { realClock } from '../../src/runtime/reconciler.js';
import { consoleClientId, identityProviderPassword, policyIdentityProvider } from '../../src/sandbox/identity-provider.js';
import { laptop, launchBrowser, screenshot } from '../harness/browser.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { startConsole, type RunningConsole } from '../harness/console-server.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';

interface World {
  cluster: TestCluster;
  namespace: string;
  target: string;
  server: RunningConsole;
  browser: Browser;
}

let operator: RunningOperator | undefined;
let world: Promise<World> | undefined;
after(async () => {
  const w = await world?.catch(() => undefined);
  await w?.browser.close();
  await w?.server.stop();
  await operator?.stop();
});

/** The sandbox provider as a policy names it, mapped as the sandbox API server maps it (src/sandbox/files.ts). */
function sandboxProvider(cluster: TestCluster) {
  const idp = cluster.state.identityProvider;
  return policyIdentityProvider(idp, readFileSync(idp.caFile, 'utf8'));
}

function setUp(): Promise<World> {
  return (world ??= (async () => {
    const cluster = await testCluster();
    operator = await startOperator(cluster);
    const admin = await cluster.kubectl();
    const namespace = await cluster.namespace('console-oidc', { keep: true });
    const target = await cluster.namespace('oidc-target', { keep: true });
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod', { approvers: { groups: ['sre-leads'], minApprovals: 1 }, identityProviders: [sandboxProvider(cluster)] })) });
    await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
    const store = `file://${mkdtempSync(join(tmpdir(), 'kubegate-oidc-store-'))}`;
    const server = await startConsole(cluster, { store, loginAs: [], args: [`--oidc-from-policy=${namespace}/prod`] });
    return { cluster, namespace, target, server, browser: await launchBrowser() };
  })());
}

async function pendingGrant(w: World): Promise<{ grant: string; request: string }> {
  const admin = await w.cluster.kubectl();
  const grant = uniqueName('needs-bob');
  await admin.ok(['create', '-f', '-'], {
    input: JSON.stringify(accessGrant(w.namespace, grant, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '1h', access: [{ namespace: w.target, clusterRole: 'view' }], policyRef: { name: 'prod' }, approval: { required: true }, requestedBy: 'kubegate-admin' })),
  });
  let request = '';
  await eventually(async () => {
    request = (await admin.ok(['get', 'accessgrant', grant, '-n', w.namespace, '-o', 'jsonpath={.status.approvalRequest}'])).trim();
    assert.ok(request);
  }, 20_000);
  return { grant, request };
}

test('invariant 5: bob signs in at the identity provider in Chromium, named as the gateway names him, and approves a grant; the sign-in does not work twice', async () => {
  const w = await setUp();
  const { grant, request } = await pendingGrant(w);
  // the provider serves with the sandbox CA, which this browser does not know
  const context = await w.browser.newContext({ viewport: laptop, ignoreHTTPSErrors: true });
  const problems: string[] = [];
  try {
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    let callback = '';
    page.on('request', (sent) => {
      if (sent.url().startsWith(`${w.server.url}/auth/callback`)) callback = sent.url();
    });
    // the link an approver is notified with: signed out, the console offers the provider and comes back here
    const approvalPage = `${w.server.url}/approvals/${w.namespace}/${request}`;
    await page.goto(approvalPage);
    const signIn = page.getByTestId('oidc-sign-in');
    await signIn.waitFor();
    assert.equal(await signIn.innerText(), `Sign in with ${w.cluster.state.identityProvider.issuer}`);
    await screenshot(page, 'console-oidc-01-sign-in');
    await signIn.click();
    await page.locator('input[name=username]').waitFor();
    await screenshot(page, 'console-oidc-02-provider-login');
    await page.fill('input[name=username]', 'bob@example.com');
    await page.fill('input[name=password]', identityProviderPassword('bob'));
    await page.click('#login');
    await page.waitForURL(approvalPage);
    await page.locator('.viewer .user', { hasText: 'bob@example.com' }).waitFor();
    assert.equal(await page.locator('.viewer .groups').innerText(), 'sre-leads');

    const card = page.locator(`[data-testid=approval][data-name="${w.namespace}/${request}"]`);
    await card.getByRole('textbox', { name: 'reason' }).fill('bob, signed in at the company login');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.locator('.card-head .badge', { hasText: 'Approved' }).waitFor();
    await screenshot(page, 'console-oidc-03-approved');
    const admin = await w.cluster.kubectl();
    const decided = JSON.parse(await admin.ok(['get', 'approvalrequest', request, '-n', w.namespace, '-o', 'jsonpath={.spec.decisions}'])) as { by: string }[];
    assert.deepEqual(decided.map((decision) => decision.by), ['bob@example.com'], 'the decision is made by the name the provider vouched for');
    await grantActive(admin, w.namespace, grant);

    // the same callback again, with the same browser's state cookie: the state was spent
    assert.ok(callback, 'the provider sent the browser back to /auth/callback');
    const state = new URL(callback).searchParams.get('state')!;
    const replayed = await fetch(callback, { redirect: 'manual', headers: { cookie: `kubegate_console_login=${state}` } });
    assert.equal(replayed.status, 401);
    assert.match(await replayed.text(), /unknown, expired or already used/);
    assert.equal(replayed.headers.get('set-cookie')?.includes('kubegate_console='), false, 'no session for a replay');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a sign-in\'s state works once and only with the cookie of the browser that began it', async () => {
  const w = await setUp();
  const config = (await (await fetch(`${w.server.url}/auth/config`)).json()) as { oidc?: { issuer: string } };
  assert.equal(config.oidc?.issuer, w.cluster.state.identityProvider.issuer);
  const begun = await fetch(`${w.server.url}/auth/login?next=${encodeURIComponent('//elsewhere.example/')}`, { redirect: 'manual' });
  assert.equal(begun.status, 303);
  const authorize = new URL(begun.headers.get('location')!);
  assert.equal(authorize.origin, w.cluster.state.identityProvider.issuer);
  assert.deepEqual(['client_id', 'redirect_uri', 'code_challenge_method'].map((name) => authorize.searchParams.get(name)), [consoleClientId, `${w.server.url}/auth/callback`, 'S256']);
  assert.ok(authorize.searchParams.get('nonce'));
  const state = authorize.searchParams.get('state')!;
  assert.match(begun.headers.get('set-cookie') ?? '', new RegExp(`^kubegate_console_login=${state}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=600$`));

  const callback = `${w.server.url}/auth/callback?state=${state}&code=stolen`;
  const elsewhere = await fetch(callback, { redirect: 'manual' });
  assert.equal(elsewhere.status, 401);
  assert.match(await elsewhere.text(), /started in another browser/);
  const again = await fetch(callback, { redirect: 'manual', headers: { cookie: `kubegate_console_login=${state}` } });
  assert.equal(again.status, 401);
  assert.match(await again.text(), /unknown, expired or already used/, 'the state was spent by the first attempt');
  assert.equal((await fetch(`${w.server.url}/auth/callback?state=made-up&code=x`, { redirect: 'manual', headers: { cookie: 'kubegate_console_login=made-up' } })).status, 401);
});

test('an ID token for another audience, or without this sign-in\'s nonce, names nobody', async () => {
  const w = await setUp();
  // the sandbox's token minter: the same checks (discovery, JWKS, issuer, audience) against a real issuer
  const minter = { issuer: { url: w.cluster.state.oidc.issuer, audiences: ['unused'], certificateAuthority: readFileSync(w.cluster.state.identityProvider.caFile, 'utf8') }, claimMappings: { username: { claim: 'sub', prefix: '' } } };
  const token = await w.cluster.tokenFor({ user: 'bob', groups: ['sre-leads'] }); // audience: the sandbox API server's
  const login = (clientId: string) => new OidcLogin({ provider: async () => minter, clientId, redirectUri: `${w.server.url}/auth/callback` }, realClock);
  await assert.rejects(login(consoleClientId).viewerOf(token, 'any'), /the ID token is not accepted: .*"aud"/);
  await assert.rejects(login(w.cluster.state.oidc.audience).viewerOf(token, 'this-sign-in'), /another nonce than this sign-in sent/);
});
