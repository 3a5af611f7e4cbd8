/**
 * The web console in real headless Chromium (Debian's chromium, driven by playwright-core) against the
 * real parts: the sandbox API server, the operator, a gateway with two workers, `kubegate console`, and
 * the bot's real kubectl. An approver logs in through the one-time link, approves the bot's pending
 * grant, watches the bot's exec live and ends it, finds the session by the command it ran, plays its
 * terminal, sees it flagged once a segment is changed in the store, and reads the grant's access ledger
 * from the session's page. The tests are steps of one
 * story and run in order, each on what the one before left. Every step saves a screenshot under
 * test-results/screenshots/ (console-NN-step.png; console-failed-TEST.png where a step fails) for a person to look at.
 */
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../../src/sandbox/network.js';
import { launchBrowser, openPage, screenshot } from '../harness/browser.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { startConsole, type RunningConsole } from '../harness/console-server.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';

interface Story {
  cluster: TestCluster;
  admin: Kubectl;
  namespace: string;
  target: string;
  pod: string;
  gateway: RunningGateway;
  /** The folder of the gateway's (and the ledger's) `file://` store. */
  recordings: string;
  server: RunningConsole;
  grant: string;
  approvalRequest: string;
  browser: Browser;
  page: Page;
  /** Page errors and console errors (a CSP violation among them) seen so far. */
  problems: string[];
  /** Filled in as the story goes. */
  bot?: Kubectl;
  liveSession?: string;
}

/**
 * Names of this run alone: other test files share the sandbox and leave approvals pending for `alice` and
 * `sre-leads` in their own namespaces, which an approver's page would rightly list too.
 */
const run = Date.now().toString(36).slice(-4);
const approver = { user: `alice-${run}`, groups: [`sre-leads-${run}`] };
/** Who asked for the bot's grant: an approver too, which admission still refuses for their own request. */
const requester = { user: 'kubegate-admin', groups: approver.groups };
const marker = `console-marker-${Date.now().toString(36)}`;

let operator: RunningOperator | undefined;
let story: Promise<Story> | undefined;
after(async () => {
  const s = await story?.catch(() => undefined);
  await s?.browser.close();
  await s?.server.stop();
  await s?.gateway.stop();
  await operator?.stop();
});

/** A policy whose approvers are sre-leads, its gateway (two workers, live events on), the console, and the bot's grant waiting for approval. */
function setup(): Promise<Story> {
  return (story ??= (async () => {
    const cluster = await testCluster();
    operator = await startOperator(cluster);
    const admin = await cluster.kubectl();
    const namespace = await cluster.namespace('console', { keep: true });
    const target = await cluster.namespace('payments', { keep: true });
    const policy = { namespace, name: 'prod' };
    // the policy's storage is the gateway's store: the operator keeps the grants' access ledger beside the recordings
    const recordings = mkdtempSync(join(tmpdir(), 'kubegate-console-store-'));
    const store = `file://${recordings}`;
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod', { approvers: { groups: approver.groups, minApprovals: 1 }, gateway: { replicas: 1, storage: { url: store } } })) });
    await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', `--group=${approver.groups[0]}`, '-n', namespace]);
    await admin.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('web', 1) });
    const eventsPort = await freePort();
    const gateway = await startGateway(cluster, policy, { store, args: ['--workers=2', `--events-listen=127.0.0.1:${eventsPort}`] });
    const server = await startConsole(cluster, { store: gateway.store, gateway: { policy, eventsUrl: `https://127.0.0.1:${eventsPort}` }, loginAs: [approver, requester].map(({ user, groups }) => `${user}:${groups.join(',')}`) });
    await admin.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
    const [pod] = await podNames(admin, target, 'app=web');
    const grant = uniqueName('deploy-bot');
    await admin.ok(['create', '-f', '-'], {
      input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'prod' }, approval: { required: true }, requestedBy: requester.user })),
    });
    let approvalRequest = '';
    await eventually(async () => {
      const status = JSON.parse(await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status}'])) as { phase?: string; approvalRequest?: string };
      assert.equal(status.phase, 'Pending');
      approvalRequest = status.approvalRequest ?? '';
      assert.ok(approvalRequest);
    }, 20_000);
    const browser = await launchBrowser();
    const { page, problems } = await openPage(browser);
    return { cluster, admin, namespace, target, pod: pod!, gateway, recordings, server, grant, approvalRequest, browser, page, problems };
  })());
}

// a failed step leaves a picture of the page it failed on
afterEach(async (t) => {
  const s = await story?.catch(() => undefined);
  if (s && !s.page.isClosed() && 'passed' in t && !t.passed) await screenshot(s.page, `console-failed-${t.name.replace(/\W+/g, '-').slice(0, 60)}`);
});

/** Page errors so far, CSP violations among them: none is expected on any page. */
function assertNoPageErrors(s: Story): void {
  assert.deepEqual(s.problems.filter((problem) => problem.startsWith('page error') || /Content Security Policy/.test(problem)), []);
}

const grantPhase = (s: Story) => s.admin.ok(['get', 'accessgrant', s.grant, '-n', s.namespace, '-o', 'jsonpath={.status.phase}']).then((out) => out.trim());

test('log in through the one-time link: the console names the viewer, and the link does not work twice', async () => {
  const s = await setup();
  const link = s.server.loginLinks.get(approver.user);
  assert.ok(link, s.server.logs());
  await s.page.goto(link);
  await s.page.waitForURL(`${s.server.url}/`);
  await s.page.locator('.viewer .user', { hasText: approver.user }).waitFor();
  assert.match(await s.page.locator('.viewer .groups').innerText(), /sre-leads/);
  await s.page.locator('[data-testid=sessions], .empty').first().waitFor();
  await screenshot(s.page, 'console-01-logged-in');

  const other = await openPage(s.browser);
  try {
    await other.page.goto(link);
    const me = await other.context.request.get(`${s.server.url}/api/me`);
    assert.equal(me.status(), 401, 'a used login link signs nobody in');
  } finally {
    await other.context.close();
  }
  assertNoPageErrors(s);
});

test('invariant 5: the approver approves the pending grant as themself, and the bot\'s kubectl starts working', async () => {
  const s = await setup();
  await s.page.getByRole('link', { name: /Approvals/ }).click();
  const card = s.page.locator(`[data-testid=approval][data-name="${s.namespace}/${s.approvalRequest}"]`);
  await card.waitFor();
  assert.equal(await s.page.locator('[data-testid=pending-count]').innerText(), '1');
  assert.match(await card.innerText(), /Pending[\s\S]*deploy-bot[\s\S]*edit in /);
  await screenshot(s.page, 'console-02-approval-pending');

  // the requester, an approver too, is offered no decision on their own request (admission would refuse it)
  const asRequester = await openPage(s.browser);
  try {
    await asRequester.page.goto(s.server.loginLinks.get(requester.user)!);
    await asRequester.page.locator('.viewer .user', { hasText: requester.user }).waitFor();
    await asRequester.page.goto(`${s.server.url}/approvals/${s.namespace}/${s.approvalRequest}`);
    const own = asRequester.page.locator(`[data-testid=approval][data-name="${s.namespace}/${s.approvalRequest}"]`);
    await own.locator('[data-testid=may-not-decide]', { hasText: 'another approver must decide it' }).waitFor();
    assert.equal(await own.getByRole('button', { name: 'Approve' }).count(), 0);
    await screenshot(asRequester.page, 'console-03-approval-own-request');
  } finally {
    await asRequester.context.close();
  }

  await card.getByRole('textbox', { name: 'reason' }).fill('rollout window CHG-1042');
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.locator('.card-head .badge', { hasText: 'Approved' }).waitFor();
  await screenshot(s.page, 'console-04-approval-approved');

  const decided = JSON.parse(await s.admin.ok(['get', 'approvalrequest', s.approvalRequest, '-n', s.namespace, '-o', 'json'])) as { spec: { decisions: { by: string; reason: string }[] } };
  assert.deepEqual(decided.spec.decisions.map((d) => [d.by, d.reason]), [[approver.user, 'rollout window CHG-1042']], 'recorded as the authenticated viewer');
  await eventually(async () => assert.equal(await grantPhase(s), 'Active'), 60_000);
  s.bot = new Kubectl(s.cluster.state.binaries.kubectl, await jitKubeconfig(s.cluster, { namespace: s.namespace, name: s.grant }, s.gateway));
  await eventually(async () => assert.match(await s.bot!.ok(['get', 'pods', '-n', s.target]), new RegExp(s.pod)), 10_000);

  await s.page.getByRole('link', { name: 'Grants' }).click();
  const row = s.page.locator(`[data-testid=grant][data-name="${s.namespace}/${s.grant}"]`);
  assert.match(await row.innerText(), /deploy-bot[\s\S]*edit in [\s\S]*in (59m|1h)/);
  await screenshot(s.page, 'console-05-grants');
  assertNoPageErrors(s);
});

let exec: ChildProcess | undefined;

test('a live exec appears on the Live page as it runs, with its output, whichever worker serves it', async () => {
  const s = await setup();
  assert.ok(s.bot, 'the approval step gave the bot its kubeconfig');
  await s.page.getByRole('link', { name: 'Live' }).click();
  await s.page.locator('.connection', { hasText: 'following' }).waitFor();
  // stdin stays open: `cat` keeps the exec (and the session) running until it is ended
  exec = s.bot.start(['exec', '-i', '-n', s.target, s.pod, '--', 'sh', '-c', `echo ${marker}; cat`]);
  const card = s.page.locator('[data-testid=live-session]', { has: s.page.locator('[data-testid=live-tail]', { hasText: marker }) });
  await card.waitFor({ timeout: 20_000 });
  assert.match(await card.innerText(), /deploy-bot[\s\S]*exec/);
  s.liveSession = (await card.getAttribute('data-session')) ?? undefined;
  assert.ok(s.liveSession);
  await screenshot(s.page, 'console-06-live-exec');
  assertNoPageErrors(s);
});

test('invariant 11: "End session" closes the running exec, and the bot\'s next kubectl with the same kubeconfig fails', async () => {
  const s = await setup();
  assert.ok(exec && s.bot && s.liveSession, 'the live step started an exec');
  const card = s.page.locator(`[data-testid=live-session][data-session="${s.liveSession}"]`);
  const exited = once(exec, 'exit');
  await card.getByRole('textbox', { name: 'reason' }).fill('incident drill: cut the bot off');
  await card.getByRole('button', { name: 'End session' }).click();
  await card.locator('[data-testid=live-ended]').waitFor();
  await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('the exec still runs 5 s after End session')), 5_000))]);
  await screenshot(s.page, 'console-07-live-ended');

  assert.equal((await s.admin.ok(['get', 'accessgrant', s.grant, '-n', s.namespace, '-o', 'jsonpath={.spec.revoked}'])).trim(), 'true');
  await eventually(async () => {
    const next = await s.bot!.run(['get', 'pods', '-n', s.target]);
    assert.notEqual(next.code, 0, 'the bot is cut off');
  }, 5_000);
  assertNoPageErrors(s);
});

test('find the session by a command it ran, and play its terminal', async () => {
  const s = await setup();
  assert.ok(s.liveSession);
  await s.page.getByRole('link', { name: 'Sessions' }).click();
  // keyboard: j highlights the newest session, Enter opens it
  await s.page.locator('[data-testid=sessions] tbody tr').first().waitFor();
  await s.page.keyboard.press('j');
  await s.page.locator('[data-testid=sessions] tbody tr.selected').waitFor();
  await screenshot(s.page, 'console-08-sessions-list');
  await s.page.keyboard.press('Enter');
  await s.page.waitForURL(/\/sessions\/[^/]+$/);
  await s.page.goBack();
  const hit = s.page.locator(`[data-testid=search-results] a[href="/sessions/${s.liveSession}"]`).first();
  // the ended session reaches the store within seconds (segments sealed every 2 s): search until it is there
  await eventually(async () => {
    await s.page.keyboard.press('/');
    await s.page.keyboard.type(marker);
    await s.page.keyboard.press('Enter');
    await s.page.locator('[data-testid=search-results], .results .empty').first().waitFor();
    assert.ok((await hit.count()) > 0, 'the session is found by its command');
  }, 20_000, 1_000);
  await screenshot(s.page, 'console-09-search');

  await hit.click();
  await s.page.waitForURL(`${s.server.url}/sessions/${s.liveSession}`);
  // the recording is whole so far: intact, or open while the gateway keeps the session until it idles out
  await s.page.locator('[data-testid=verification] .badge', { hasText: /intact|open/ }).waitFor();
  const terminal = s.page.locator('[data-testid=terminal]').first();
  assert.match(await terminal.locator('.stream-title').innerText(), new RegExp(marker));
  await terminal.locator('.ap-player').click();
  await eventually(async () => assert.match(await terminal.locator('[data-testid=player]').innerText(), new RegExp(`^${marker}`, 'm')), 10_000);
  assert.match(await s.page.locator('[data-testid=timeline]').innerText(), /stream closed: ended by /);
  await screenshot(s.page, 'console-10-session-playback');
  assertNoPageErrors(s);
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]));
}

test('invariant 8: a segment changed in the store shows the session as tampered, with what is wrong', async () => {
  const s = await setup();
  assert.ok(s.liveSession);
  const segment = filesUnder(s.recordings).find((file) => file.includes(s.liveSession!) && /segment-0+\./.test(file));
  assert.ok(segment, `a segment of ${s.liveSession} in ${s.recordings}`);
  // the subject's name changed in place, as someone hiding who acted would: still JSON of the same size,
  // so the timeline still reads (the next step follows a call of this session), no longer the bytes recorded
  const text = readFileSync(segment, 'latin1');
  assert.ok(text.includes('deploy-bot'), `the subject in ${segment}`);
  writeFileSync(segment, Buffer.from(text.replace('deploy-bot', 'deploy-bou'), 'latin1'));

  await s.page.reload();
  const verification = s.page.locator('[data-testid=verification]');
  // verify reads every segment of both writers: on a loaded machine that takes longer than playwright's default 30 s
  await verification.locator('.badge', { hasText: 'tampered' }).waitFor({ timeout: 90_000 });
  assert.ok((await verification.locator('li').count()) > 0, 'the problems are listed');
  assert.match(await verification.innerText(), /segment/);
  await screenshot(s.page, 'console-11-session-tampered');
  assertNoPageErrors(s);
});

test('a call\'s request and response bodies are folded under it on the session page, JSON indented', async () => {
  const s = await setup();
  const listed = await s.page.request.get(`${s.server.url}/api/sessions?subject=deploy-bot&verb=list&resource=pods`);
  const [session] = ((await listed.json()) as { items: { id: string }[] }).items;
  assert.ok(session, 'the bot\'s kubectl get pods was recorded');
  await s.page.goto(`${s.server.url}/sessions/${session.id}`);
  const body = s.page.locator('[data-testid=response-body]').first();
  await body.locator('summary').click();
  const text = await body.locator('pre').innerText();
  assert.match(text, /^\{\n {2}"kind": /, 'the recorded JSON, indented');
  assert.match(await body.locator('summary').innerText(), /response body · application\/json/);
  await screenshot(s.page, 'console-12-session-bodies');
  assertNoPageErrors(s);
});

test('a call on the session page links to its object\'s history: the bot\'s exec into the pod is there, with its session', async () => {
  const s = await setup();
  assert.ok(s.liveSession, 'the live step recorded the bot\'s exec');
  // the exec's calls reach the per-object index once its session's segments are uploaded
  await eventually(async () => {
    const answer = await s.page.request.get(`${s.server.url}/api/history?resource=pods&name=${s.pod}&namespace=${s.target}`);
    assert.ok(((await answer.json()) as { items: { session: string }[] }).items.some((entry) => entry.session === s.liveSession));
  }, 20_000);
  await s.page.goto(`${s.server.url}/sessions/${s.liveSession}`);
  const call = s.page.locator('[data-testid=timeline] tr', { hasText: `create pods/exec ${s.target}/${s.pod}` }).first();
  await call.getByRole('link', { name: 'history' }).click();
  await s.page.waitForURL(/\/history\?/);
  const exec = s.page.locator('[data-testid=history] tr', { hasText: 'create exec' }).filter({ hasText: 'deploy-bot' }).first();
  assert.match(await exec.innerText(), /create exec[\s\S]*deploy-bot[\s\S]*Allow/);
  await exec.getByRole('link', { name: s.liveSession.slice(0, 8) }).waitFor();
  assert.equal(await s.page.locator('nav a[aria-current=page]').innerText(), 'History');
  await screenshot(s.page, 'console-13-object-history');
  assertNoPageErrors(s);
});

test('a session\'s grant links to its access ledger: created, activated and revoked, its ApprovalRequest decided by the approver', async () => {
  const s = await setup();
  assert.ok(s.liveSession, 'the live step recorded the bot\'s exec');
  // the operator writes the revocation to the ledger once it has seen it
  await eventually(async () => {
    const answer = await s.page.request.get(`${s.server.url}/api/grants/${s.namespace}/${s.grant}/ledger`);
    assert.equal(answer.status(), 200, await answer.text());
    assert.ok(((await answer.json()) as { entries: { event: string }[] }).entries.some((entry) => entry.event === 'revoked'));
  }, 20_000);
  await s.page.goto(`${s.server.url}/sessions/${s.liveSession}`);
  await s.page.locator('.facts').getByRole('link', { name: `${s.namespace}/${s.grant}` }).click();
  await s.page.waitForURL(new RegExp(`/grants/${s.namespace}/${s.grant}\\?at=`));
  const ledgers = s.page.locator('[data-testid=ledger]');
  await ledgers.first().waitFor();
  const events = async (table: number) => ledgers.nth(table).locator('tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-event')));
  assert.deepEqual(await events(0), ['created', 'activated', 'revoked']);
  assert.match(await ledgers.nth(0).locator('tr[data-event=created]').innerText(), new RegExp(`${requester.user}[\\s\\S]*edit in ${s.target}`));
  assert.match(await ledgers.nth(1).locator('tr[data-event=decision]').innerText(), new RegExp(`${approver.user}[\\s\\S]*approved[\\s\\S]*rollout window CHG-1042`));
  assert.equal(await s.page.locator('[data-testid=ledger-integrity] .badge', { hasText: 'intact' }).count(), 2, 'both chains intact');
  assert.equal(await s.page.locator('nav a[aria-current=page]').innerText(), 'Grants');
  await screenshot(s.page, 'console-14-grant-ledger');
  assertNoPageErrors(s);
});
