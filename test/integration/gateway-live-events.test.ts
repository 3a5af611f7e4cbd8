/**
 * The gateway's live events endpoint with `--workers 2`, as a real process, with the real kubectl: the
 * primary serves every worker's events to subscribers the API server authorises (TokenReview, then
 * SubjectAccessReview on sessions.kubegate.dev), and ends a session in whichever worker runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { KubeApi, KubeApiError } from '../../src/console/kube-api.js';
import { loadKubeconfig } from '../../src/kube/load-kubeconfig.js';
import { gatewayFixture, recordedLines, type RecordedLine } from '../harness/gateway-fixture.js';
import { account, boundIn, liveCall, subscribeLive, type LiveMessage } from '../harness/live-events.js';
import { uniqueName } from '../harness/kubegate-objects.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';

const setup = gatewayFixture({ gatewayArgs: ['--workers=2'] });

function metricsText(adminUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // a connection of its own each time: the primary hands connections to the workers in turn
    get(`${adminUrl}/metrics`, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** `kubegate_live_events_sent_total` of each worker, read from each worker's own /metrics. */
async function liveMessagesSent(adminUrl: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (let attempt = 0; attempt < 40 && counts.size < 2; attempt++)
    for (const match of (await metricsText(adminUrl)).matchAll(/^kubegate_live_events_sent_total\{worker="(\d+)"\} (\d+)$/gm)) counts.set(Number(match[1]), Number(match[2]));
  assert.deepEqual([...counts.keys()].sort(), [0, 1], 'both workers answered /metrics');
  return counts;
}

const ofType = (events: LiveMessage[], type: string) => events.filter((event) => event.type === type).map((event) => event.data);

test('the live events endpoint: 401 without a token or with one of the API server\'s audience (a live events token is refused there), 403 without sessions.kubegate.dev, and no event crosses IPC while nobody subscribes', { timeout: 120_000 }, async () => {
  const { cluster, admin, bot, namespace, target, gateway, ca } = await setup();
  for (let i = 0; i < 6; i++) await bot.ok(['get', 'pods', '-n', target]);
  assert.deepEqual([...(await liveMessagesSent(gateway.adminUrl)).values()], [0, 0], 'nothing sent by either worker');

  const anonymous = await subscribeLive(gateway.eventsUrl, ca);
  assert.equal(anonymous.status, 401);
  assert.equal(JSON.parse(anonymous.body).reason, 'Unauthorized');
  const forged = await subscribeLive(gateway.eventsUrl, ca, 'not-a-token');
  assert.equal(forged.status, 401);
  const nobody = await account(admin, namespace);
  const refused = await subscribeLive(gateway.eventsUrl, ca, nobody.token);
  assert.equal(refused.status, 403);
  assert.match(JSON.parse(refused.body).message, /may not watch sessions\.kubegate\.dev/);
  assert.deepEqual([...(await liveMessagesSent(gateway.adminUrl)).values()], [0, 0], 'a refused subscriber makes no worker send anything');

  // an auditor follows, but may not end a session
  const auditor = await account(admin, namespace, 'kubegate-auditor');
  const following = await subscribeLive(gateway.eventsUrl, ca, auditor.token);
  assert.equal(following.status, 200);
  await eventually(async () => assert.equal(following.events[0]?.type, 'snapshot'), 10_000, 50);
  following.close();
  assert.equal((await liveCall(gateway.eventsUrl, ca, 'DELETE', '/sessions/any', auditor.token)).status, 403);

  // a token the API server accepts (its own audience) is refused here: a gateway shown one could use it there
  const apiToken = (await admin.ok(['create', 'token', auditor.name, '-n', namespace])).trim();
  const wrongAudience = await subscribeLive(gateway.eventsUrl, ca, apiToken);
  assert.equal(wrongAudience.status, 401);
  assert.equal((await liveCall(gateway.eventsUrl, ca, 'DELETE', '/sessions/any', apiToken)).status, 401);
  // and a live events token is refused by the API server: a gateway that keeps one gains nothing there
  const liveTokenAtApiServer = new KubeApi(loadKubeconfig(cluster.kubeconfigFile(auditor.token)));
  await assert.rejects(liveTokenAtApiServer.call({ path: '/api' }), (error: unknown) => error instanceof KubeApiError && error.status === 401);
  liveTokenAtApiServer.close();
  assert.deepEqual([...(await liveMessagesSent(gateway.adminUrl)).values()], [1, 1], 'a subscriber: each worker sent its snapshot');
});

test('a subscriber sees both workers: session starts, a Deny with its rule, an exec with masked output; ending it ends kubectl and is recorded', { timeout: 180_000 }, async () => {
  const { admin, bot, namespace, target, gateway, ca } = await setup();
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('shell', 1) });
  await bot.ok(['rollout', 'status', 'deployment/shell', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=shell');
  const approver = await account(admin, namespace, 'kubegate-approver');
  const live = await subscribeLive(gateway.eventsUrl, ca, approver.token);
  assert.equal(live.status, 200);
  await eventually(async () => assert.equal(live.events[0]?.type, 'snapshot'), 10_000, 50);

  for (let i = 0; i < 6; i++) await bot.ok(['get', 'pods', '-n', target]);
  assert.notEqual((await bot.run(['delete', 'namespace', target])).code, 0);
  const exec = bot.start(['exec', '-i', pod!, '-n', target, '--', 'sh', '-c', 'while read line; do echo "got $line"; done']);
  let output = '';
  exec.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exec.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => exec.once('exit', resolve));
  const key = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  exec.stdin!.write(`${key}\n`);
  await eventually(async () => assert.match(output, /got \*{20}\n/), 20_000, 50);

  let opened: Record<string, unknown> | undefined;
  await eventually(
    async () => {
      assert.deepEqual([...new Set(ofType(live.events, 'session-start').map((start) => start.worker))].sort(), [0, 1], 'sessions of both workers');
      const denied = ofType(live.events, 'request').find((request) => request.decision === 'Deny');
      assert.deepEqual({ ...denied, session: undefined, time: undefined, seq: undefined }, { session: undefined, time: undefined, seq: undefined, verb: 'delete', path: `/api/v1/namespaces/${target}`, namespace: target, resource: 'namespaces', name: target, decision: 'Deny', rule: 'no-namespace-deletion', status: 403 });
      opened = ofType(live.events, 'stream-open')[0];
      assert.deepEqual({ ...opened, session: undefined, time: undefined, stream: undefined }, { session: undefined, time: undefined, stream: undefined, kind: 'exec', command: ['sh', '-c', 'while read line; do echo "got $line"; done'], pod, namespace: target, tty: false });
      const stdout = ofType(live.events, 'stream-data').filter((data) => data.channel === 'stdout' && data.stream === opened!.stream);
      assert.match(stdout.map((data) => data.text).join(''), /got \*{20}\n/);
    },
    20_000,
    50,
  );
  assert.ok(!JSON.stringify(live.events).includes(key), 'the key is masked in every live event, stdin included');
  const session = opened!.session as string;

  // a later subscriber's snapshot has the exec in progress
  const later = await subscribeLive(gateway.eventsUrl, ca, approver.token);
  await eventually(async () => assert.equal(later.events[0]?.type, 'snapshot'), 10_000, 50);
  const inProgress = (later.events[0]!.data.sessions as Array<{ session: string; streams: Array<{ kind: string; pod: string }> }>).find((entry) => entry.session === session);
  assert.deepEqual(inProgress?.streams.map(({ kind, pod: name }) => ({ kind, pod: name })), [{ kind: 'exec', pod }]);
  later.close();
  assert.ok([...(await liveMessagesSent(gateway.adminUrl)).values()].some((sent) => sent > 0), 'with a subscriber, the workers send');

  const ended = await liveCall(gateway.eventsUrl, ca, 'DELETE', `/sessions/${session}`, approver.token);
  assert.deepEqual({ status: ended.status, body: JSON.parse(ended.body) }, { status: 200, body: { ended: 1 } });
  assert.notEqual(await exited, 0, 'kubectl exec ended');
  const reason = `ended by ${approver.user}`;
  await eventually(async () => assert.ok(ofType(live.events, 'stream-close').some((close) => close.session === session && close.reason === reason)), 10_000, 50);
  await eventually(async () => {
    const closes = recordedLines(gateway).map((line) => JSON.parse(line) as RecordedLine).filter((event) => event.type === 'stream-close' && event.requestId === opened!.stream);
    assert.deepEqual([...new Set(closes.map((close) => close.reason))], [reason]);
  }, 20_000);
  live.close();
});

test('config/rbac: auditors read and follow sessions, approvers also end them, the console impersonates and reviews but writes nothing as itself', async () => {
  const { admin, namespace } = await setup();
  /** The API server's answer to a SubjectAccessReview, as the gateway and the console ask it. */
  const may = async (user: string, verb: string, resource: string, group = 'kubegate.dev') => {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups: ['system:serviceaccounts', 'system:authenticated'], resourceAttributes: { group, resource, verb, namespace } } };
    return (await admin.ok(['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'], { input: JSON.stringify(review) })) === 'true';
  };
  const auditor = await account(admin, namespace, 'kubegate-auditor');
  const approver = await account(admin, namespace, 'kubegate-approver');
  for (const verb of ['get', 'list', 'watch']) assert.ok(await may(auditor.user, verb, 'sessions'), `auditor ${verb}`);
  assert.equal(await may(auditor.user, 'delete', 'sessions'), false);
  assert.equal(await may(auditor.user, 'patch', 'approvalrequests'), false);
  assert.ok(await may(approver.user, 'delete', 'sessions'));

  const console = uniqueName('console');
  await admin.ok(['create', 'serviceaccount', console, '-n', namespace]);
  await admin.ok(['create', 'clusterrolebinding', console, '--clusterrole=kubegate-console', `--serviceaccount=${namespace}:${console}`]);
  const consoleUser = `system:serviceaccount:${namespace}:${console}`;
  await boundIn(admin, namespace, consoleUser, ['list', 'accessgrants.kubegate.dev']);
  const allowed: Array<[string, string, string]> = [['impersonate', 'users', ''], ['impersonate', 'groups', ''], ['create', 'subjectaccessreviews', 'authorization.k8s.io'], ['create', 'tokenreviews', 'authentication.k8s.io'], ['watch', 'sessions', 'kubegate.dev'], ['delete', 'sessions', 'kubegate.dev'], ['list', 'approvalrequests', 'kubegate.dev']];
  for (const [verb, resource, group] of allowed) assert.ok(await may(consoleUser, verb, resource, group), `console may ${verb} ${resource}`);
  const refused: Array<[string, string, string]> = [['patch', 'approvalrequests', 'kubegate.dev'], ['patch', 'accessgrants', 'kubegate.dev'], ['get', 'secrets', '']];
  for (const [verb, resource, group] of refused) assert.equal(await may(consoleUser, verb, resource, group), false, `console may not ${verb} ${resource}`);
  await admin.ok(['delete', 'clusterrolebinding', console]);
});
