/**
 * Invariant 11: a session ends within 2 s of its grant leaving Active. The API server authorizes an
 * exec, attach, port-forward or watch once, as it starts, so only the gateway can end one that is already
 * running. Each test opens one kind of stream through the real gateway with the real kubectl, makes its
 * grant leave Active (revoked, deleted, expired), and times the end from the API call (or the expiry
 * instant) to the moment kubectl exits or the forwarded connection closes. Each test has a grant of its
 * own, so the gateway is this file's own (the shared fixture's grant must stay Active).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync, appendFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { kubeClients, type KubeClients } from '../../src/kube/client.js';
import { accessGrants, namespacedPath, patchObject } from '../../src/kube/resources.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { forwardedLocalPort, Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { deploymentYaml, eventually, grantActive, podNames } from '../harness/workloads.js';

interface Fixture {
  cluster: TestCluster;
  admin: Kubectl;
  clients: KubeClients;
  namespace: string;
  target: string;
  pod: string;
  gateway: RunningGateway;
}

let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
let fixture: Promise<Fixture> | undefined;
after(async () => {
  await gateway?.stop();
  await operator?.stop();
});

/** A policy, its gateway, and a running pod (on the kwok node: exec runs locally, ports echo). */
function setup(): Promise<Fixture> {
  return (fixture ??= (async () => {
    const cluster = await testCluster();
    operator = await startOperator(cluster);
    const admin = await cluster.kubectl();
    const namespace = await cluster.namespace('revoke', { keep: true });
    const target = await cluster.namespace('work', { keep: true });
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
    await admin.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('web', 1) });
    gateway = await startGateway(cluster, { namespace, name: 'prod' });
    await admin.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
    const [pod] = await podNames(admin, target, 'app=web');
    return { cluster, admin, clients: kubeClients(cluster.admin), namespace, target, pod: pod!, gateway };
  })());
}

/** A new Active grant (edit in the target namespace) and kubectl through the gateway with its JIT kubeconfig. */
async function grantedKubectl(f: Fixture, duration = '1h'): Promise<{ grant: string; bot: Kubectl }> {
  const grant = uniqueName('bot');
  await f.admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(f.namespace, grant, { subject: { kind: 'User', name: 'deploy-bot' }, duration, access: [{ namespace: f.target, clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(f.admin, f.namespace, grant);
  return { grant, bot: new Kubectl(f.cluster.state.binaries.kubectl, await jitKubeconfig(f.cluster, { namespace: f.namespace, name: grant }, f.gateway)) };
}

const revoke = (f: Fixture, grant: string) => patchObject(f.clients, accessGrants, f.namespace, grant, { spec: { revoked: true } }).then(() => undefined);
const remove = (f: Fixture, grant: string) => f.clients.raw.requestJson('DELETE', namespacedPath(accessGrants, f.namespace, grant)).then(() => undefined);

/** When `event` happened (fails, rather than waits for ever, if it has not within `limitMs`). */
async function timeOf(event: Promise<unknown>, what: string, limitMs = 15_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running ${limitMs} ms later`)), limitMs)));
  try {
    await Promise.race([event, late]);
    return Date.now();
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `change` (an API call) and measures how long after its start each of `ends` happened: each must be under 2 s. */
async function endsAfter(t: TestContext, change: () => Promise<void>, ends: Record<string, Promise<unknown>>): Promise<void> {
  const sent = Date.now();
  const times = Promise.allSettled(Object.entries(ends).map(([what, event]) => timeOf(event, what)));
  await change();
  for (const [i, time] of (await times).entries()) {
    const what = Object.keys(ends)[i]!;
    if (time.status === 'rejected') throw time.reason;
    t.diagnostic(`${what} ended ${time.value - sent} ms after the grant change was sent`);
    assert.ok(time.value - sent < 2000, `${what} ended ${time.value - sent} ms after the grant change`);
  }
}

/** A long-running kubectl, killed when the test ends if it is still running. */
function started(t: TestContext, bot: Kubectl, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = bot.start(args, { env });
  t.after(() => void child.kill('SIGKILL'));
  return child;
}

/** Every `stream-close` reason recorded so far in the sessions of `grant` (spool and store). */
function recordedCloseReasons(gw: RunningGateway, grant: string): string[] {
  const sessions = new Map<string, { grant?: string; reasons: string[] }>();
  for (const dir of [gw.recordings, gw.spoolDir]) {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !/^segment-\d{6}\.jsonl$/.test(entry.name)) continue;
      const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(entry.parentPath)![0];
      const session = sessions.get(id) ?? { reasons: [] };
      sessions.set(id, session);
      for (const line of readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { type: string; grant?: { name: string }; reason?: string };
        if (event.type === 'session-start') session.grant = event.grant!.name;
        if (event.type === 'stream-close') session.reasons.push(event.reason!);
      }
    }
  }
  return [...sessions.values()].filter((session) => session.grant === grant).flatMap((session) => session.reasons);
}

async function assertRecorded(gw: RunningGateway, grant: string, reason: string): Promise<void> {
  await eventually(async () => assert.ok(recordedCloseReasons(gw, grant).includes(reason), `stream-close reasons of ${grant}: ${JSON.stringify(recordedCloseReasons(gw, grant))}`), 10_000);
}

/** `kubectl exec -i POD -- cat`, open and echoing. */
async function runningCat(t: TestContext, f: Fixture, bot: Kubectl, env: Record<string, string> = {}): Promise<{ exec: ChildProcess; output: () => string }> {
  const exec = started(t, bot, ['exec', '-i', '-n', f.target, f.pod, '--', 'cat'], env);
  let output = '';
  exec.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exec.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exec.stdin!.write('still here\n');
  await eventually(async () => assert.match(output, /still here/), 20_000);
  return { exec, output: () => output };
}

for (const transport of ['WebSocket', 'SPDY'] as const) {
  test(`invariant 11: an exec over ${transport} (kubectl exec -i cat) ends within 2 s of its grant being revoked`, async (t) => {
    const f = await setup();
    const { grant, bot } = await grantedKubectl(f);
    const { exec, output } = await runningCat(t, f, bot, transport === 'SPDY' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {});
    await endsAfter(t, () => revoke(f, grant), { 'kubectl exec': once(exec, 'exit') });
    assert.notEqual(exec.exitCode, 0);
    assert.match(output(), /grant .* was revoked/, 'kubectl is told why');
    await assertRecorded(f.gateway, grant, 'grant revoked');
  });
}

test('invariant 11: an attach ends within 2 s of its grant being revoked', async (t) => {
  const f = await setup();
  const { grant, bot } = await grantedKubectl(f);
  const attach = started(t, bot, ['attach', '-n', f.target, f.pod]);
  let attached = '';
  attach.stdout!.on('data', (chunk: Buffer) => (attached += chunk.toString()));
  const line = `attached ${grant}`;
  await eventually(async () => {
    appendFileSync(join(f.cluster.state.dir, 'kwok', 'pod.log'), `${new Date().toISOString()} stdout F ${line}\n`);
    assert.match(attached, new RegExp(line));
  }, 20_000, 1000);
  await endsAfter(t, () => revoke(f, grant), { 'kubectl attach': once(attach, 'exit') });
  await assertRecorded(f.gateway, grant, 'grant revoked');
});

test('invariant 11: a port-forward and the connection through it end within 2 s of its grant being revoked', async (t) => {
  const f = await setup();
  const { grant, bot } = await grantedKubectl(f);
  const forward = started(t, bot, ['port-forward', '-n', f.target, `pod/${f.pod}`, ':8080']);
  const port = await forwardedLocalPort(forward, 8080);
  const connection = connect(port, '127.0.0.1');
  t.after(() => void connection.destroy());
  let echoed = '';
  connection.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
  connection.on('error', () => undefined); // reset or closed: either way it ended
  connection.write('ping\n');
  await eventually(async () => assert.equal(echoed, 'ping\n'), 20_000);
  await endsAfter(t, () => revoke(f, grant), { 'the forwarded connection': once(connection, 'close'), 'kubectl port-forward': once(forward, 'exit') });
  await assertRecorded(f.gateway, grant, 'grant revoked');
});

test('invariant 11: a watch (kubectl get -w) ends within 2 s of its grant being revoked', async (t) => {
  const f = await setup();
  const { grant, bot } = await grantedKubectl(f);
  const watch = started(t, bot, ['get', 'configmaps', '-n', f.target, '-w', '-o', 'name']);
  let seen = '';
  watch.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  await eventually(async () => assert.match(seen, /configmap\/kube-root-ca\.crt/), 20_000);
  await endsAfter(t, () => revoke(f, grant), { 'kubectl get -w': once(watch, 'exit') });
  await assertRecorded(f.gateway, grant, 'grant revoked');
});

test('invariant 11: an exec ends within 2 s of its grant being deleted', async (t) => {
  const f = await setup();
  const { grant, bot } = await grantedKubectl(f);
  const { exec } = await runningCat(t, f, bot);
  await endsAfter(t, () => remove(f, grant), { 'kubectl exec': once(exec, 'exit') });
  await assertRecorded(f.gateway, grant, 'grant deleted');
});

test('invariant 11: an exec ends at its grant expiry, by the gateway alone (operator stopped)', async (t) => {
  const f = await setup();
  const { grant, bot } = await grantedKubectl(f, '25s');
  const expiresAt = Date.parse((await f.admin.ok(['get', 'accessgrant', grant, '-n', f.namespace, '-o', 'jsonpath={.status.expiresAt}'])).trim());
  const { exec } = await runningCat(t, f, bot);
  // the operator would mark the grant Expired at the same instant: without it, only the gateway's timer can end the exec
  await operator!.stop();
  try {
    assert.ok(Date.now() < expiresAt - 1000, `the exec opened ${Date.now() - expiresAt} ms after the expiry; give the grant longer`);
    const ended = await timeOf(once(exec, 'exit'), 'kubectl exec', expiresAt - Date.now() + 15_000);
    t.diagnostic(`kubectl exec ended ${ended - expiresAt} ms after the grant's expiry`);
    // the token's expiry is the grant's rounded down to the second: it may end up to 1 s before the grant's
    assert.ok(ended - expiresAt > -1000 && ended - expiresAt < 2000, `ended ${ended - expiresAt} ms after the expiry`);
    await assertRecorded(f.gateway, grant, 'grant expired');
  } finally {
    operator = await startOperator(f.cluster);
  }
});
