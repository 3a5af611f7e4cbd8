/**
 * The console's JSON API against the real sandbox: a session recorded by the real gateway from the real
 * kubectl is listed, searched, shown, played and verified through the console; approvals and revocation
 * go to the API server as the signed-in viewer (impersonated, never a name the page sends), so RBAC and
 * the admission policies decide exactly as for `kubegate approve`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';
import { openStore } from '../../src/recording/open-store.js';
import { writerPrefix } from '../../src/recording/format.js';
import { startConsole, type RunningConsole } from '../../src/console/server.js';
import type { Viewer } from '../../src/console/auth.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { serviceAccountToken, startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';

let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
let consoleServer: RunningConsole | undefined;
after(async () => {
  await consoleServer?.close();
  await gateway?.stop();
  await operator?.stop();
});

interface World {
  cluster: TestCluster;
  namespace: string;
  target: string;
  console: RunningConsole;
  recordings: string;
}

const alice: Viewer = { user: 'alice', groups: ['sre-leads'] };
const audrey: Viewer = { user: 'audrey', groups: ['auditors'] };
const mallory: Viewer = { user: 'mallory', groups: ['engineers'] };

/** A ClusterRole (applied: `kubectl create clusterrole` refuses sessions.kubegate.dev, a resource RBAC alone knows). */
async function clusterRole(cluster: TestCluster, name: string, rules: object[]): Promise<void> {
  await (await cluster.kubectl()).ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules }) });
}

/** RBAC the console's own credential needs (config/rbac's kubegate-console), made here for the test. */
async function consoleCredential(cluster: TestCluster): Promise<string> {
  const admin = await cluster.kubectl();
  const name = uniqueName('console');
  await clusterRole(cluster, name, [
    { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    { apiGroups: ['kubegate.dev'], resources: ['sessionpolicies'], verbs: ['get', 'list', 'watch'] },
  ]);
  await admin.ok(['create', 'clusterrolebinding', name, `--clusterrole=${name}`, `--serviceaccount=kubegate-system:${name}`]);
  return cluster.kubeconfigFile(await serviceAccountToken(cluster, 'kubegate-system', name));
}

/** A Secret's value the bot writes and reads through the gateway: the recording holds it masked only. */
const secretValue = 'clear-console-password-3141';

async function record(cluster: TestCluster, namespace: string, target: string): Promise<RunningGateway> {
  const admin = await cluster.kubectl();
  const grant = uniqueName('bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'console-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'console' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);
  const running = await startGateway(cluster, { namespace, name: 'console' });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, running));
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell' }, spec: { containers: [{ name: 'main', image: 'registry.example/app:1.0' }] } };
  await eventually(async () => void (await bot.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify(pod) })), 20_000);
  await bot.ok(['wait', '--for=condition=Ready', 'pod/shell', '-n', target, '--timeout=60s']);
  const exec = await bot.run(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'read a; echo "got $a"'], { input: 'console secret word\n' });
  assert.equal(exec.code, 0, exec.stderr);
  await bot.ok(['create', 'secret', 'generic', 'creds', '-n', target, `--from-literal=password=${secretValue}`]);
  await bot.ok(['get', 'secret', 'creds', '-n', target, '-o', 'json']);
  await running.stop(); // drains: every session is closed and uploaded
  return running;
}

let world: Promise<World> | undefined;
function setUp(): Promise<World> {
  world ??= (async () => {
    const cluster = await testCluster();
    operator = await startOperator(cluster);
    const admin = await cluster.kubectl();
    const namespace = await cluster.namespace('console', { keep: true });
    const target = await cluster.namespace('console-target', { keep: true });
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'console', { recording: { stdin: true } })) });
    const reader = uniqueName('sessions-reader');
    await clusterRole(cluster, reader, [{ apiGroups: ['kubegate.dev'], resources: ['sessions'], verbs: ['get', 'list', 'watch', 'delete'] }]);
    await admin.ok(['create', 'rolebinding', 'session-readers', `--clusterrole=${reader}`, '--group=auditors', '--group=sre-leads', '-n', namespace]);
    await admin.ok(['create', 'rolebinding', 'kubegate-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
    await admin.ok(['create', 'rolebinding', 'kubegate-editors', '--clusterrole=kubegate-editor', '--group=engineers', '--user=alice', '-n', namespace]);
    gateway = await record(cluster, namespace, target);
    const running = await startConsole({
      listen: { host: '127.0.0.1', port: 0 },
      kubeconfig: loadKubeconfig(await consoleCredential(cluster)),
      store: openStore(gateway.store),
      logger: pino({ enabled: false }),
    });
    consoleServer = running;
    return { cluster, namespace, target, console: running, recordings: gateway.recordings };
  })();
  return world;
}

/** A browser of one viewer: the cookie and CSRF token the console gave it. */
class Viewing {
  cookie = '';
  csrf = '';
  constructor(
    readonly console: RunningConsole,
    readonly viewer: Viewer,
  ) {}

  async signIn(): Promise<this> {
    const link = this.console.loginLink(this.viewer);
    const response = await fetch(link, { redirect: 'manual' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/');
    const setCookie = response.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^kubegate_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    this.cookie = setCookie.split(';')[0]!;
    this.csrf = (await this.json<{ csrf: string }>('/api/me')).csrf;
    return this;
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.console.url}${path}`, { ...init, headers: { cookie: this.cookie, ...(init.headers as Record<string, string>) } });
  }

  async json<T>(path: string, expectStatus = 200): Promise<T> {
    const response = await this.fetch(path);
    const text = await response.text();
    assert.equal(response.status, expectStatus, `${path}: ${text}`);
    return JSON.parse(text) as T;
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-kubegate-csrf': this.csrf, ...headers } });
  }
}

interface SessionRow {
  id: string;
  subject: string;
  commands: string[];
  open: boolean;
  verbs: string[];
  resources: string[];
}

test('a login link signs in once only; no cookie is 401; a mutation without the CSRF header is 403', async () => {
  const { console: running } = await setUp();
  const link = running.loginLink(audrey);
  assert.equal((await fetch(link, { redirect: 'manual' })).status, 303);
  const again = await fetch(link, { redirect: 'manual' });
  assert.equal(again.status, 401);
  assert.equal(again.headers.get('set-cookie'), null);
  assert.equal((await fetch(`${running.url}/login?token=made-up`, { redirect: 'manual' })).status, 401);

  const anonymous = await fetch(`${running.url}/api/sessions`);
  assert.equal(anonymous.status, 401);
  assert.deepEqual(await anonymous.json(), { error: 'sign in first: open a login link', code: 'Unauthorized' });
  assert.equal(anonymous.headers.get('x-frame-options'), 'DENY');
  assert.equal(anonymous.headers.get('cache-control'), 'no-store');
  assert.equal(anonymous.headers.get('x-content-type-options'), 'nosniff');
  assert.match(anonymous.headers.get('content-security-policy') ?? '', /default-src 'self'/);

  const page = await new Viewing(running, alice).signIn();
  const me = await page.json<{ user: string; groups: string[]; can: Record<string, boolean> }>('/api/me');
  assert.deepEqual({ user: me.user, groups: me.groups, can: me.can }, { user: 'alice', groups: ['sre-leads'], can: { readSessions: true, watchSessions: true, endSessions: true } });
  const noCsrf = await page.fetch('/api/logout', { method: 'POST' });
  assert.equal(noCsrf.status, 403);
  assert.match(((await noCsrf.json()) as { error: string }).error, /X-Kubegate-CSRF/);
  const wrongCsrf = await page.post('/api/grants/x/y/revoke', { reason: 'r' }, { 'x-kubegate-csrf': 'guess' });
  assert.equal(wrongCsrf.status, 403);
  assert.equal((await page.post('/api/logout', {})).status, 200);
  assert.equal((await page.fetch('/api/me')).status, 401, 'signed out: the session is gone');
});

test('a viewer without rights on sessions.kubegate.dev is refused the recordings (403)', async () => {
  const { console: running } = await setUp();
  const page = await new Viewing(running, mallory).signIn();
  const refused = await page.json<{ error: string; code: string }>('/api/sessions', 403);
  assert.equal(refused.code, 'Forbidden');
  assert.match(refused.error, /mallory may not list sessions\.kubegate\.dev/);
  assert.equal((await page.fetch('/api/search?q=got')).status, 403);
  assert.equal((await page.json<{ can: Record<string, boolean> }>('/api/me')).can.readSessions, false);
});

test('invariant 8: the recorded session is listed, found by a command and by its output, shown, played and verified; a tampered segment is named', async () => {
  const { console: running, recordings } = await setUp();
  const page = await new Viewing(running, audrey).signIn();
  const list = await page.json<{ items: SessionRow[]; total: number }>('/api/sessions?subject=console-bot');
  assert.ok(list.total >= 3, `one session per kubectl invocation, got ${list.total}`);
  const exec = list.items.find((row) => row.resources.includes('pods/exec'))!;
  assert.ok(exec, 'the exec session is listed');
  assert.deepEqual(exec.commands, ['sh -c read a; echo "got $a"']);
  assert.equal(exec.subject, 'User/console-bot');
  assert.equal(exec.open, false);
  const paged = await page.json<{ items: SessionRow[]; next?: string }>('/api/sessions?limit=1');
  assert.equal(paged.items.length, 1);
  const second = await page.json<{ items: SessionRow[] }>(`/api/sessions?limit=1&cursor=${paged.next}`);
  assert.notEqual(second.items[0]!.id, paged.items[0]!.id);
  const creates = await page.json<{ items: SessionRow[] }>('/api/sessions?verb=create&resource=pods');
  assert.ok(creates.items.some((row) => row.id === exec.id) && creates.items.every((row) => row.verbs.includes('create')));
  assert.equal((await page.json<{ total: number }>('/api/sessions?verb=delete')).total, 0);

  const byCommand = await page.json<{ items: { session: string; kind: string; line: string }[] }>(`/api/search?q=${encodeURIComponent('echo "got')}`);
  assert.deepEqual(byCommand.items.map(({ session, kind }) => ({ session, kind })), [{ session: exec.id, kind: 'exec' }]);
  const byOutput = await page.json<{ items: { session: string; kind: string; line: string }[] }>('/api/search?q=secret+word');
  assert.deepEqual(byOutput.items.map(({ session, kind, line }) => ({ session, kind, line })), [
    { session: exec.id, kind: 'stdin', line: 'console secret word' },
    { session: exec.id, kind: 'stdout', line: 'got console secret word' },
  ]);

  const shown = await page.json<{ session: SessionRow; counts: { requests: number; denied: number; streams: number }; timeline: { kind: string; requestId?: string; command?: string[]; line?: string }[] }>(`/api/sessions/${exec.id}`);
  assert.equal(shown.session.id, exec.id);
  assert.deepEqual({ ...shown.counts, requests: shown.counts.requests > 0 }, { requests: true, denied: 0, streams: 1 });
  const open = shown.timeline.find((entry) => entry.kind === 'stream-open')!;
  assert.deepEqual(open.command, ['sh', '-c', 'read a; echo "got $a"']);
  assert.ok(shown.timeline.some((entry) => entry.kind === 'stream-line' && entry.line === 'got console secret word'));
  const cast = await page.fetch(`/api/sessions/${exec.id}/streams/${encodeURIComponent(open.requestId!)}.cast`);
  assert.equal(cast.status, 200);
  assert.equal(cast.headers.get('content-type'), 'application/x-asciicast; charset=utf-8');
  const [header, ...frames] = (await cast.text()).trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
  assert.equal((header as { version: number }).version, 2);
  assert.equal((frames as [number, string, string][]).filter(([, code]) => code === 'o').map(([, , data]) => data).join(''), 'got console secret word\r\n', 'exec without -t: the cast carries the carriage returns no terminal added');
  assert.equal((await page.fetch(`/api/sessions/${exec.id}/streams/nothing.cast`)).status, 404);
  assert.deepEqual(await page.json(`/api/sessions/${'0'.repeat(36)}`, 404), { error: `no session ${'0'.repeat(36)}`, code: 'NotFound' });
  assert.equal((await page.fetch('/api/sessions/..%2F..%2Fetc')).status, 400);

  const intact = await page.json<{ status: string; problems: string[] }>(`/api/sessions/${exec.id}/verify`);
  assert.deepEqual(intact, { ...intact, status: 'intact', problems: [] });
  const [written] = running.services.index.find(exec.id)!.indexes;
  const segment = join(recordings, `${writerPrefix(written!.prefix, written!.writer)}segment-000000.jsonl`);
  writeFileSync(segment, readFileSync(segment, 'utf8').replace('console-bot', 'someone-else'));
  const tampered = await page.json<{ status: string; problems: string[] }>(`/api/sessions/${exec.id}/verify`);
  assert.equal(tampered.status, 'tampered');
  assert.match(tampered.problems.join('\n'), /segment 0 changed \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}… in its manifest\)/);
});

test('the timeline carries each call\'s recorded bodies, a Secret\'s data masked as recorded, never its clear value; a body is fetched whole', async () => {
  const { console: running } = await setUp();
  const page = await new Viewing(running, audrey).signIn();
  const [created] = (await page.json<{ items: SessionRow[] }>('/api/sessions?verb=create&resource=secrets')).items;
  const [read] = (await page.json<{ items: SessionRow[] }>('/api/sessions?verb=get&resource=secrets')).items;
  type Body = { text?: string; bytes: number; contentType?: string; cut?: boolean };
  type Entry = { kind: string; requestId: string; call: string; requestBody?: Body; responseBody?: Body };
  const calls = async (id: string) => (await page.json<{ timeline: Entry[] }>(`/api/sessions/${id}`)).timeline.filter((entry) => entry.kind === 'api' && entry.call.includes('secrets'));
  const [create] = await calls(created!.id);
  const [get] = (await calls(read!.id)).filter((entry) => entry.call.startsWith('get'));
  const clear = [secretValue, Buffer.from(secretValue).toString('base64')];
  for (const body of [create!.requestBody, create!.responseBody, get!.responseBody]) {
    assert.ok(body?.text, `${create!.call} / ${get!.call}: a text body`);
    assert.equal(body.bytes, Buffer.byteLength(body.text));
    assert.equal(body.cut, undefined);
    for (const value of clear) assert.ok(!body.text.includes(value), `the clear value in ${body.text}`);
  }
  const secret = JSON.parse(get!.responseBody!.text!) as { kind: string; data: { password: string } };
  assert.deepEqual({ kind: secret.kind, password: Buffer.from(secret.data.password, 'base64').toString() }, { kind: 'Secret', password: '*'.repeat(5) });
  assert.match(get!.responseBody!.contentType ?? '', /^application\/json/);

  const whole = await page.fetch(`/api/sessions/${read!.id}/bodies/${encodeURIComponent(get!.requestId)}/response`);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get('content-type'), 'text/plain; charset=utf-8', 'never served as the type it claims');
  assert.equal(await whole.text(), get!.responseBody!.text);
  assert.equal((await page.fetch(`/api/sessions/${read!.id}/bodies/${encodeURIComponent(get!.requestId)}/request`)).status, 404, 'a get sends no body');
  const outsider = await new Viewing(running, mallory).signIn();
  // a session the viewer may not read is not found, as one that does not exist: no id or namespace confirmed
  assert.equal((await outsider.fetch(`/api/sessions/${read!.id}/bodies/${encodeURIComponent(get!.requestId)}/response`)).status, 404);
  assert.equal((await outsider.fetch(`/api/sessions/${read!.id}`)).status, 404);
  assert.equal((await outsider.fetch(`/api/sessions/${read!.id.slice(0, 8)}/verify`)).status, 404);
});

test('a call recorded in a session shows in its object\'s history (the timeline names the object); a viewer without sessions rights is refused (403)', async () => {
  const { console: running, target } = await setUp();
  const page = await new Viewing(running, audrey).signIn();
  const [read] = (await page.json<{ items: SessionRow[] }>('/api/sessions?verb=get&resource=secrets')).items;
  type Entry = { kind: string; requestId: string; call: string; object?: { resource: string; namespace?: string; name: string } };
  const timeline = (await page.json<{ timeline: Entry[] }>(`/api/sessions/${read!.id}`)).timeline;
  const get = timeline.find((entry) => entry.kind === 'api' && entry.call.startsWith('get secrets'))!;
  assert.deepEqual(get.object, { resource: 'secrets', namespace: target, name: 'creds' });

  type HistoryEntry = { time: string; session: string; requestId: string; verb: string; subject: string; decision: string; status: number | null };
  const history = await page.json<{ items: HistoryEntry[] }>(`/api/history?resource=secrets&name=creds&namespace=${target}`);
  const recorded = history.items.find((entry) => entry.session === read!.id && entry.requestId === get.requestId);
  assert.deepEqual(recorded && { verb: recorded.verb, subject: recorded.subject, decision: recorded.decision, status: recorded.status }, { verb: 'get', subject: 'console-bot', decision: 'Allow', status: 200 });
  assert.deepEqual(history.items.map((entry) => entry.verb).slice(0, 2), ['create', 'get'], 'oldest first: the bot created the Secret, then read it');
  assert.deepEqual(history.items.map((entry) => entry.time), history.items.map((entry) => entry.time).sort());
  assert.deepEqual(await page.json(`/api/history?resource=secrets&name=creds&namespace=elsewhere`), { items: [] });
  assert.equal((await page.fetch('/api/history?resource=secrets')).status, 400);

  const outsider = await new Viewing(running, mallory).signIn();
  const refused = await outsider.json<{ error: string; code: string }>(`/api/history?resource=secrets&name=creds&namespace=${target}`, 403);
  assert.match(refused.error, /mallory may not list sessions\.kubegate\.dev/);
});

test('bad input gets one clear 400, and the console keeps answering', async () => {
  const { console: running } = await setUp();
  const page = await new Viewing(running, audrey).signIn();
  assert.deepEqual(await page.json('/api/sessions?limit=abc', 400), { error: 'limit must be a whole number from 1 to 500, got "abc"', code: 'BadRequest' });
  assert.equal((await page.json<{ code: string }>('/api/sessions?since=yesterday', 400)).code, 'BadRequest');
  assert.equal((await page.json<{ code: string }>('/api/search?q=x&cursor=%%%', 400)).code, 'BadRequest');
  assert.equal((await page.json<{ code: string }>('/api/search', 400)).code, 'BadRequest');
  const notJson = await page.fetch('/api/approvals/a/b', { method: 'POST', body: '{"decision":', headers: { 'content-type': 'application/json', 'x-kubegate-csrf': page.csrf } });
  assert.deepEqual(await notJson.json(), { error: 'the request body is not valid JSON', code: 'BadRequest' });
  assert.equal((await page.post('/api/approvals/Not_A_Name/b', { decision: 'Approve', reason: 'r' })).status, 400);
  assert.equal((await page.fetch('/api/sessions/%E0%A4%A')).status, 400);
  assert.equal((await page.fetch('/api/nothing')).status, 404);
  assert.equal((await page.fetch('/api/sessions', { method: 'DELETE', headers: { 'x-kubegate-csrf': page.csrf } })).status, 405);
  assert.equal((await fetch(`${running.url}/healthz`)).status, 200);
});

async function pendingGrant(cluster: TestCluster, namespace: string, target: string): Promise<{ grant: string; request: string; requester: Viewer }> {
  const admin = await cluster.kubectl();
  const requester: Viewer = { user: uniqueName('dev'), groups: ['engineers', 'sre-leads'] };
  await admin.ok(['create', 'rolebinding', `${requester.user}-edit`, '--clusterrole=edit', `--user=${requester.user}`, '-n', target]);
  await admin.ok(['create', 'clusterrole', `${requester.user}-bind-edit`, '--verb=bind', '--resource=clusterroles', '--resource-name=edit']);
  await admin.ok(['create', 'rolebinding', `${requester.user}-may-bind`, `--clusterrole=${requester.user}-bind-edit`, `--user=${requester.user}`, '-n', target]);
  const asRequester = await cluster.kubectl(requester);
  const grant = uniqueName('needs-approval');
  await eventually(async () => {
    await asRequester.ok(['create', '-f', '-'], {
      input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'console-bot' }, duration: '30m', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'console' }, approval: { required: true }, requestedBy: requester.user })),
    });
  });
  let request = '';
  await eventually(async () => {
    request = (await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.approvalRequest}'])).trim();
    assert.ok(request);
  }, 20_000);
  return { grant, request, requester };
}

test('invariant 5: approvals go as the signed-in viewer: the requester and a name the page supplies are refused by admission, an approver activates the grant', async () => {
  const { cluster, namespace, target, console: running } = await setUp();
  const admin = await cluster.kubectl();
  const { grant, request, requester } = await pendingGrant(cluster, namespace, target);

  const asApprover = await new Viewing(running, alice).signIn();
  const listed = await asApprover.json<{ items: { name: string; kind: string; phase: string; requester: string; canDecide: boolean; grant?: { name: string } }[] }>('/api/approvals');
  const item = listed.items.find((candidate) => candidate.name === request)!;
  assert.deepEqual({ ...item, grant: item.grant?.name }, { ...item, kind: 'grant', phase: 'Pending', requester: requester.user, canDecide: true, grant });

  const asRequester = await new Viewing(running, requester).signIn();
  const own = (await asRequester.json<{ items: { name: string; canDecide: boolean }[] }>('/api/approvals')).items.find((candidate) => candidate.name === request)!;
  assert.equal(own.canDecide, false);
  const self = await asRequester.post(`/api/approvals/${namespace}/${request}`, { decision: 'Approve', reason: 'mine' });
  assert.equal(self.status, 403);
  assert.match(((await self.json()) as { error: string }).error, /the requester or the subject of a request cannot decide it/);

  // whatever the page sends, the console acts as the signed-in viewer
  const asMallory = await new Viewing(running, mallory).signIn();
  const forged = await asMallory.post(`/api/approvals/${namespace}/${request}`, { decision: 'Approve', reason: 'forged', by: 'alice', user: 'alice', groups: ['sre-leads'] }, { 'impersonate-user': 'alice', 'impersonate-group': 'sre-leads' });
  assert.equal(forged.status, 403);
  assert.match(((await forged.json()) as { error: string }).error, /mallory is not an approver of policy console/);

  const approved = await asApprover.post(`/api/approvals/${namespace}/${request}`, { decision: 'Approve', reason: 'looks right' });
  assert.equal(approved.status, 200, await approved.clone().text());
  assert.deepEqual(((await approved.json()) as { decisions: { by: string; decision: string }[] }).decisions.map(({ by, decision }) => ({ by, decision })), [{ by: 'alice', decision: 'Approve' }]);
  await grantActive(admin, namespace, grant);
  const decisions = JSON.parse(await admin.ok(['get', 'approvalrequest', request, '-n', namespace, '-o', 'jsonpath={.spec.decisions}'])) as { by: string }[];
  assert.deepEqual(decisions.map((decision) => decision.by), ['alice']);

  // revoke, as the viewer: RBAC decides (an outsider may not patch grants), then the grant ends
  const active = await asApprover.json<{ items: { name: string; phase: string }[] }>('/api/grants?phase=Active');
  assert.ok(active.items.some((candidate) => candidate.name === grant));
  const asOutsider = await new Viewing(running, { user: 'oscar', groups: [] }).signIn();
  const refused = await asOutsider.post(`/api/grants/${namespace}/${grant}/revoke`, { reason: 'not mine to end' });
  assert.equal(refused.status, 403);
  assert.match(((await refused.json()) as { error: string }).error, /"oscar" cannot patch resource "accessgrants"/);
  const revoked = await asApprover.post(`/api/grants/${namespace}/${grant}/revoke`, { reason: 'done with it' });
  assert.equal(revoked.status, 200, await revoked.clone().text());
  await eventually(async () => assert.equal((await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Revoked'), 20_000);
});
