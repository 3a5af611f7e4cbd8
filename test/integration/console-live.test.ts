/**
 * The console's live page, against the real gateway process (`--workers=2`, its live events endpoint)
 * and the real kubectl: a viewer allowed to watch follows an exec as it happens through the console's
 * relay; one without `watch` is refused; ending the session revokes the grant as the viewer and ends
 * the exec at the gateway, and the bot's next kubectl with the same kubeconfig fails. A console whose
 * credential is not a ServiceAccount shows the gateways nothing (it has no token of their audience).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';
import { openStore } from '../../src/recording/open-store.js';
import { startConsole, type RunningConsole } from '../../src/console/server.js';
import { SseParser, type SseMessage } from '../../src/console/live.js';
import type { Viewer } from '../../src/console/auth.js';
import { gatewayFixture } from '../harness/gateway-fixture.js';
import { allowLiveEventsTokens, operatorNamespace, serviceAccountToken } from '../harness/operator.js';
import { uniqueName } from '../harness/kubegate-objects.js';
import { spawnKubegate } from '../harness/kubegate-process.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';
import type { TestCluster } from '../harness/cluster.js';

const setup = gatewayFixture({ gatewayArgs: ['--workers=2'] });
let running: RunningConsole | undefined;
after(() => running?.close());

/** The console's own ServiceAccount, bound to config/rbac's kubegate-console ClusterRole, with its live events token Role. */
async function consoleKubeconfig(cluster: TestCluster): Promise<{ file: string; user: string }> {
  const name = uniqueName('console');
  const token = await serviceAccountToken(cluster, operatorNamespace, name);
  await (await cluster.kubectl()).ok(['create', 'clusterrolebinding', name, '--clusterrole=kubegate-console', `--serviceaccount=${operatorNamespace}:${name}`]);
  await allowLiveEventsTokens(cluster, operatorNamespace, name);
  return { file: cluster.kubeconfigFile(token), user: `system:serviceaccount:${operatorNamespace}:${name}` };
}

/** A signed-in page of one viewer. */
async function signIn(console: RunningConsole, viewer: Viewer): Promise<{ cookie: string; csrf: string }> {
  const login = await fetch(console.loginLink(viewer), { redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const me = (await (await fetch(`${console.url}/api/me`, { headers: { cookie } })).json()) as { csrf: string };
  return { cookie, csrf: me.csrf };
}

/** Follows `/api/live`: the messages received so far, and a way to stop. */
async function follow(console: RunningConsole, cookie: string): Promise<{ status: number; messages: SseMessage[]; close(): void }> {
  const abort = new AbortController();
  const response = await fetch(`${console.url}/api/live`, { headers: { cookie }, signal: abort.signal });
  const messages: SseMessage[] = [];
  if (response.status === 200) {
    const parser = new SseParser();
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) messages.push(...parser.push(decoder.decode(chunk as Uint8Array, { stream: true })));
    })().catch(() => undefined);
  }
  return { status: response.status, messages, close: () => abort.abort() };
}

const dataOf = (messages: SseMessage[], event: string) => messages.filter((message) => message.event === event).map((message) => JSON.parse(message.data) as Record<string, any>);

test('live: an exec followed through the console as it happens; a viewer without watch is refused; ending it revokes the grant and the bot is out', { timeout: 180_000 }, async () => {
  const { cluster, admin, bot, namespace, target, grant, gateway, ca } = await setup();
  await admin.ok(['create', 'rolebinding', 'console-approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  await admin.ok(['create', 'rolebinding', 'console-editors', '--clusterrole=kubegate-editor', '--group=sre-leads', '-n', namespace]);
  const credential = await consoleKubeconfig(cluster);
  running = await startConsole({
    listen: { host: '127.0.0.1', port: 0 },
    kubeconfig: loadKubeconfig(credential.file),
    store: openStore(gateway.store),
    gateways: [{ url: gateway.eventsUrl }],
    gatewayCa: ca,
    logger: pino({ enabled: false }),
  });
  const alice = await signIn(running, { user: 'alice', groups: ['sre-leads'] });
  const me = (await (await fetch(`${running.url}/api/me`, { headers: { cookie: alice.cookie } })).json()) as { can: Record<string, boolean> };
  assert.deepEqual(me.can, { readSessions: true, watchSessions: true, endSessions: true });
  const mallory = await signIn(running, { user: 'mallory', groups: ['engineers'] });
  const refused = await follow(running, mallory.cookie);
  assert.equal(refused.status, 403);

  const live = await follow(running, alice.cookie);
  assert.equal(live.status, 200);
  await eventually(async () => assert.equal(live.messages[0]?.event, 'snapshot'), 10_000, 50);

  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('shell', 1) });
  await bot.ok(['rollout', 'status', 'deployment/shell', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=shell');
  const exec = bot.start(['exec', '-i', pod!, '-n', target, '--', 'sh', '-c', 'while read line; do echo "got $line"; done']);
  const exited = new Promise<number | null>((resolve) => exec.once('exit', resolve));
  exec.stdin!.write('watched live\n');
  let session = '';
  await eventually(
    async () => {
      const opened = dataOf(live.messages, 'stream-open').find((open) => open.pod === pod);
      assert.ok(opened, 'the exec opened');
      assert.deepEqual(opened.command, ['sh', '-c', 'while read line; do echo "got $line"; done']);
      session = opened.session as string;
      assert.ok(dataOf(live.messages, 'session-start').some((start) => start.session === session && start.grant.name === grant));
      const stdout = dataOf(live.messages, 'stream-data').filter((data) => data.session === session && data.channel === 'stdout');
      assert.match(stdout.map((data) => data.text).join(''), /got watched live\n/);
    },
    20_000,
    50,
  );

  const endedByMallory = await fetch(`${running.url}/api/sessions/${session}/end`, { method: 'POST', headers: { cookie: mallory.cookie, 'x-kubegate-csrf': mallory.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'not mine' }) });
  assert.equal(endedByMallory.status, 403);
  const ended = await fetch(`${running.url}/api/sessions/${session}/end`, { method: 'POST', headers: { cookie: alice.cookie, 'x-kubegate-csrf': alice.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'watched enough' }) });
  assert.equal(ended.status, 200, await ended.clone().text());
  assert.deepEqual(await ended.json(), { grant: { namespace, name: grant }, ended: 1 });
  assert.notEqual(await exited, 0, 'kubectl exec ended');
  await eventually(async () => assert.ok(dataOf(live.messages, 'stream-close').some((close) => close.session === session && close.reason === `ended by ${credential.user}`)), 10_000, 50);
  await eventually(async () => assert.equal((await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Revoked'), 20_000);
  await eventually(async () => assert.notEqual((await bot.run(['get', 'pods', '-n', target])).code, 0, "the bot's next kubectl fails"), 20_000);
  live.close();
});

test('a console whose credential is not a ServiceAccount follows no gateway, and the live page says why', { timeout: 120_000 }, async () => {
  const { cluster, gateway, ca } = await setup();
  const adminConsole = await startConsole({
    listen: { host: '127.0.0.1', port: 0 },
    kubeconfig: loadKubeconfig(cluster.kubeconfigFile()), // the sandbox admin: a static token, not a ServiceAccount
    store: openStore(gateway.store),
    gateways: [{ url: gateway.eventsUrl }],
    gatewayCa: ca,
    logger: pino({ enabled: false }),
  });
  try {
    const viewer = await signIn(adminConsole, { user: 'alice', groups: ['sre-leads'] });
    const live = await follow(adminConsole, viewer.cookie);
    assert.equal(live.status, 200);
    await eventually(async () => assert.match(dataOf(live.messages, 'gateway-error')[0]?.error ?? '', /the console cannot follow gateways: its credential \(kubegate-admin\) is not a ServiceAccount/), 10_000, 50);
    live.close();
  } finally {
    await adminConsole.close();
  }
});

test('kubegate console refuses a --gateway-events URL that is not https: it would send the token in clear', { timeout: 60_000 }, async () => {
  const child = spawnKubegate('console-http-gateway', ['console', '--store=file:///nonexistent-kubegate-store', '--gateway-events=http://127.0.0.1:8082']);
  await child.exited;
  assert.equal(child.process.exitCode, 1);
  assert.match(child.logs(), /--gateway-events http:\/\/127\.0\.0\.1:8082: not https/);
});
