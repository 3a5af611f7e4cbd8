/**
 * The real kubectl through the real gateway, which talks to the API server as its policy's
 * ServiceAccount with only the operator-made RBAC: everyday kubectl works, exec/attach/port-forward work
 * over WebSocket and SPDY, the policy's decisions hold, and the caller is exactly the grant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grantGroup } from '../../src/api/identity.js';
import { jitKubeconfig } from '../harness/gateway.js';
import { gatewayCall, gatewayFixture, recordedLines, recordedText, type RecordedLine } from '../harness/gateway-fixture.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { deploymentYaml, eventually, grantActive, podNames } from '../harness/workloads.js';
import { forwardedLocalPort } from '../harness/kubectl.js';

const setup = gatewayFixture();

test('invariant 4: everyday kubectl works through the gateway with exactly the grant rights, none bound elsewhere to the bare name', async () => {
  const { bot, admin, target, namespace, grant } = await setup();
  await eventually(async () => {
    const pods = await bot.run(['get', 'pods', '-n', target]);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stderr, /No resources found/);
  }, 20_000);
  assert.match(await bot.ok(['api-resources', '--namespaced=true', '-o', 'name']), /^pods$/m);
  assert.match(await bot.ok(['version', '-o', 'json']), /"gitVersion": "v1\.35/);
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('web', 1) });
  await bot.ok(['apply', '--server-side', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { mode: 'blue' } }) });
  assert.equal((await bot.ok(['get', 'configmap', 'settings', '-n', target, '-o', 'jsonpath={.data.mode}'])).trim(), 'blue');
  assert.equal((await bot.run(['auth', 'can-i', 'create', 'deployments', '-n', target])).stdout.trim(), 'yes');
  assert.equal((await bot.run(['auth', 'can-i', 'get', 'pods', '-n', 'default'])).stdout.trim(), 'no');
  const whoami = JSON.parse(await bot.ok(['auth', 'whoami', '-o', 'json']));
  assert.equal(whoami.status.userInfo.username, 'kubegate:user:deploy-bot');
  assert.ok(whoami.status.userInfo.groups.includes(grantGroup(namespace, grant)), JSON.stringify(whoami.status.userInfo));
  assert.ok(whoami.status.userInfo.extra['kubegate.dev/session-id'][0]);
  // rights bound to the bare name `deploy-bot` (or a group of that name) never reach the impersonated identity
  await admin.run(['create', 'rolebinding', 'bare-name-view', '--clusterrole=view', '--user=deploy-bot', '--group=deploy-bot', '-n', 'default']);
  assert.equal((await bot.run(['auth', 'can-i', 'get', 'pods', '-n', 'default'])).stdout.trim(), 'no', 'a binding to the bare name does not apply');
  const outside = await bot.run(['get', 'pods', '-n', 'default']);
  assert.match(outside.stderr, /User "kubegate:user:deploy-bot" cannot list resource "pods"/);
  await bot.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
});

test('watch and logs -f stream through the gateway', async () => {
  const { bot, target, admin } = await setup();
  const watch = bot.start(['get', 'configmaps', '-n', target, '-w', '-o', 'name']);
  try {
    let seen = '';
    watch.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await eventually(async () => assert.match(seen, /configmap\/kube-root-ca\.crt/), 20_000);
    await admin.ok(['create', 'configmap', 'late-arrival', '-n', target]);
    await eventually(async () => assert.match(seen, /configmap\/late-arrival/), 10_000);
  } finally {
    watch.kill();
  }
  await bot.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=web');
  const logs = bot.start(['logs', '-f', '-n', target, pod!]);
  try {
    let out = '';
    logs.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await eventually(async () => assert.match(out, /listening on :8080/), 20_000);
  } finally {
    logs.kill();
  }
});

test('a watch is recorded whole once it ends, its body beyond what the gateway keeps in memory too', async () => {
  const { bot, target, admin, gateway } = await setup();
  // ~150 KB of initial events: more than a response keeps in memory (body-capture.ts), less than the recording's cap
  const bulky = ['bulky-0', 'bulky-1', 'bulky-2'];
  for (const [index, name] of bulky.entries()) {
    await admin.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { payload: `${name}-start ${String(index).repeat(50_000)} ${name}-end` } }) });
  }
  const spilled = join(gateway.spoolDir, 'bodies', 'worker-0');
  // a watch from no resourceVersion begins with every object as an ADDED event
  const watch = bot.start(['get', '--raw', `/api/v1/namespaces/${target}/configmaps?watch=true`]);
  try {
    let seen = '';
    watch.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await eventually(async () => assert.match(seen, /bulky-2-end/), 20_000);
    // while the watch runs, what it keeps for the recording beyond the in-memory share waits in a file
    await eventually(async () => assert.equal(readdirSync(spilled).length, 1), 10_000);
    await admin.ok(['create', 'configmap', 'raw-late-arrival', '-n', target]);
    await eventually(async () => assert.match(seen, /raw-late-arrival/), 10_000);
  } finally {
    watch.kill();
  }
  await eventually(async () => {
    const events = recordedLines(gateway).map((line) => JSON.parse(line) as RecordedLine & { bodyBytes?: number });
    const watchIds = new Set(events.filter((e) => e.type === 'request' && /configmaps\?watch=true$/.test(e.path ?? '')).map((e) => e.requestId));
    const recorded = events.find((e) => e.type === 'response' && watchIds.has(e.requestId));
    assert.ok(recorded, 'the watch response is recorded once the watch ends');
    for (const name of [...bulky.flatMap((b) => [`${b}-start`, `${b}-end`]), 'raw-late-arrival']) assert.ok(recorded.body!.includes(name), `${name} recorded`);
    assert.ok(recorded.bodyBytes! > 150_000, `bodyBytes ${recorded.bodyBytes}`);
  }, 20_000);
  assert.deepEqual(readdirSync(spilled), [], 'no spilled body is left once recorded');
});

for (const transport of ['WebSocket', 'SPDY'] as const) {
  test(`exec and port-forward through the gateway over ${transport}`, async () => {
    const { bot, target, gateway, cluster } = await setup();
    await bot.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
    const [pod] = await podNames(bot, target, 'app=web');
    const execEnv: Record<string, string> = transport === 'SPDY' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {};
    const result = await bot.run(['exec', '-n', target, pod!, '--', 'sh', '-c', 'echo "through the gateway"; echo err >&2'], { env: execEnv });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'through the gateway\n');
    assert.match(result.stderr, /^err$/m);
    const stdin = await bot.run(['exec', '-i', '-n', target, pod!, '--', 'sh', '-c', 'read line; echo "got $line"'], { env: execEnv, input: 'hello\n' });
    assert.equal(stdin.stdout, 'got hello\n');
    // attach streams what the container writes from now on (kwok: lines appended to its log), released
    // from the output masker when it pauses
    const attach = bot.start(['attach', '-n', target, pod!], { env: execEnv });
    try {
      let attached = '';
      attach.stdout!.on('data', (chunk: Buffer) => (attached += chunk.toString()));
      const line = `attached over ${transport}`;
      await eventually(async () => {
        appendFileSync(join(cluster.state.dir, 'kwok', 'pod.log'), `${new Date().toISOString()} stdout F ${line}\n`);
        assert.match(attached, new RegExp(line));
      }, 20_000, 1000);
    } finally {
      attach.kill();
    }
    // the policy masks AWS access key ids: in output, and in what is recorded of stdin and output
    const key = `AKIA${transport === 'SPDY' ? 'SPDYSPDYSPDYSPDY' : 'WEBSOCKETWEBSOCK'}`;
    const masked = await bot.run(['exec', '-i', '-n', target, pod!, '--', 'sh', '-c', 'read typed; echo "out=$typed"; echo "err=$typed" >&2'], { env: execEnv, input: `${key}\n` });
    assert.equal(masked.code, 0, masked.stderr);
    assert.equal(masked.stdout, `out=${'*'.repeat(20)}\n`);
    assert.match(masked.stderr, new RegExp(`^err=\\*{20}$`, 'm'));
    await eventually(async () => assert.match(recordedText(gateway), /out=\*{20}/), 20_000);
    assert.doesNotMatch(recordedText(gateway), new RegExp(key));

    const server = createServer((req, res) => res.end(`served ${req.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { admin } = await setup();
    await admin.ok(['apply', '-n', target, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'PortForward', metadata: { name: pod, namespace: target }, spec: { forwards: [{ ports: [8080], target: { port: (server.address() as AddressInfo).port, address: '127.0.0.1' } }] } }),
    });
    const pfEnv: Record<string, string> = transport === 'SPDY' ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {};
    const forward = bot.start(['port-forward', '-n', target, `pod/${pod}`, ':8080'], { env: pfEnv });
    try {
      const port = await forwardedLocalPort(forward, 8080);
      await eventually(async () => assert.equal(await (await fetch(`http://127.0.0.1:${port}/through`)).text(), 'served /through'));
    } finally {
      forward.kill();
      server.close();
    }
  });
}

test('invariant 6: policy: Deny names the rule, a blocked exec command never runs, approval admits one request once', async () => {
  const { bot, target, admin, namespace } = await setup();
  const deleteNs = await bot.run(['delete', 'namespace', target]);
  assert.notEqual(deleteNs.code, 0);
  assert.match(deleteNs.stderr, /denied by rule "no-namespace-deletion"/);
  const [pod] = await podNames(bot, target, 'app=web');
  const rm = await bot.run(['exec', '-n', target, pod!, '--', 'sh', '-c', 'rm -rf /tmp/nothing-here']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /this command is blocked by policy: denied by rule "no-rm-rf"/);

  await admin.ok(['create', 'configmap', 'doomed', '-n', target]);
  const held = await bot.run(['delete', 'configmap', 'doomed', '-n', target]);
  assert.notEqual(held.code, 0);
  const request = /ApprovalRequest \S+\/(\S+) is Pending/.exec(held.stderr)?.[1];
  assert.ok(request, held.stderr);
  assert.match(held.stderr, new RegExp(`kubegate approve ${request} -n ${namespace}`));
  await admin.ok(['create', 'rolebinding', 'approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  const alice = await (await setup()).cluster.kubectl({ user: 'alice', groups: ['sre-leads'] });
  await eventually(() => alice.ok(['patch', 'approvalrequest', request!, '-n', namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/decisions', value: [{ decision: 'Approve', by: 'alice', reason: 'ok' }] }])]).then(() => undefined));
  await eventually(async () => assert.equal((await admin.ok(['get', 'approvalrequest', request!, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
  await bot.ok(['delete', 'configmap', 'doomed', '-n', target]);
  // exactly once: the same request again is held again
  await admin.ok(['create', 'configmap', 'doomed', '-n', target]);
  const again = await bot.run(['delete', 'configmap', 'doomed', '-n', target]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /needs approval/);
});

test("a token of another policy's gateway is refused", async () => {
  const { admin, namespace, target, cluster, gateway: gw } = await setup();
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'staging')) });
  const grant = uniqueName('other-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'other-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'staging' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);
  // staging's token, presented to prod's gateway (over prod's own TLS, so only the token is wrong)
  const stagingToken = /token: (\S+)/.exec(readFileSync(await jitKubeconfig(cluster, { namespace, name: grant }, gw), 'utf8'))![1]!;
  const refused = await gatewayCall(await setup(), `/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${stagingToken}` });
  assert.equal(refused.status, 401);
  assert.match(refused.body, /the token is not valid for this gateway/);
});

test('invariant 3: injected identity headers are stripped; invariant 2: forged, foreign and revoked tokens are refused within a second', async () => {
  const fixture = await setup();
  const { bot, target, admin, namespace, grant, cluster, token } = fixture;
  const call = (path: string, headers: Record<string, string | string[]>) => gatewayCall(fixture, path, headers);
  // who the API server thinks asked, with an impersonation of its own injected by the caller
  const review = await gatewayCall(
    fixture,
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Impersonate-User': 'kubegate-admin', 'Impersonate-Group': 'system:masters' },
    { method: 'POST', body: Buffer.from(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' })) },
  );
  assert.equal(review.status, 201, review.body);
  const { userInfo } = JSON.parse(review.body).status;
  assert.equal(userInfo.username, 'kubegate:user:deploy-bot');
  assert.ok(userInfo.groups.includes(grantGroup(namespace, grant)), review.body);
  assert.doesNotMatch(review.body, /kubegate-admin|system:masters/);
  const secrets = await call(`/api/v1/namespaces/default/secrets`, { authorization: `Bearer ${token}`, 'Impersonate-User': 'kubegate-admin', 'impersonate-group': 'system:masters', 'X-Remote-User': 'kubegate-admin' });
  assert.equal(secrets.status, 403);
  assert.match(secrets.body, /kubegate:user:deploy-bot/);

  const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.equal((await call(`/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${forged}` })).status, 401);
  assert.equal((await call(`/api/v1/namespaces/${target}/pods`, {})).status, 401);
  const adminToken = cluster.state.apiserver.adminToken;
  assert.equal((await call(`/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${adminToken}` })).status, 401, 'a cluster credential is not a kubegate token');

  assert.equal((await call(`/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${token}` })).status, 200);
  await admin.ok(['patch', 'accessgrant', grant, '-n', namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  const revokedAt = Date.now();
  await eventually(async () => assert.equal((await call(`/api/v1/namespaces/${target}/pods`, { authorization: `Bearer ${token}` })).status, 401), 5000, 20);
  assert.ok(Date.now() - revokedAt < 1000, `refused ${Date.now() - revokedAt} ms after revocation`);
  const refusal = await bot.run(['get', 'pods', '-n', target]);
  assert.match(refusal.stderr, /grant .* was revoked/);
});
