/**
 * `kubegate replay` end to end: the real kubectl works through the real gateway (recording to a file://
 * store), the real `kubegate replay` re-executes the sessions in a fresh sandbox of its own, and every
 * call is reproduced; then a change made outside the recorded session shows as exactly that difference.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readLiveState, stopSandbox } from '../../src/sandbox/control.js';
import { sandboxMarkerPath } from '../../src/kube/sandbox-marker.js';
import type { ReplayReport } from '../../src/audit/replay/report.js';
import { testCluster } from '../harness/cluster.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { runKubegate } from '../harness/kubegate-process.js';

let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
let keptSandbox: string | undefined;
after(async () => {
  await gateway?.stop();
  await operator?.stop();
  if (keptSandbox) await stopSandbox(keptSandbox);
});

const replay = (store: string, args: string[]) => runKubegate(['replay', '--store', store, ...args]);

const deployment = (namespace: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace, labels: { applied: 'server-side' } } });

/** What the bot does through the gateway: one kubectl invocation, one session. */
async function workOnDeployment(bot: Kubectl, admin: Kubectl, namespace: string): Promise<void> {
  await bot.ok(['create', 'namespace', namespace]);
  await bot.ok(['create', 'configmap', 'settings', '-n', namespace, '--from-literal=mode=replayed']);
  await bot.ok(['create', 'deployment', 'web', '-n', namespace, '--image=registry.example/web:1']);
  await bot.ok(['patch', 'deployment', 'web', '-n', namespace, '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/patched","value":"json"}]']);
  await bot.ok(['patch', 'deployment', 'web', '-n', namespace, '--type=merge', '-p', '{"metadata":{"annotations":{"merged":"yes"}}}']);
  await bot.ok(['patch', 'deployment', 'web', '-n', namespace, '--type=strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example/web:2"}]}}}}']);
  await bot.ok(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(deployment(namespace)) });
  await bot.ok(['scale', 'deployment', 'web', '-n', namespace, '--replicas=2']);
  await admin.ok(['rollout', 'status', 'deployment/web', '-n', namespace, '--timeout=60s']);
  const pods = JSON.parse(await bot.ok(['get', 'pods', '-n', namespace, '-l', 'app=web', '-o', 'json'])) as { items: { metadata: { name: string; deletionTimestamp?: string } }[] };
  const pod = pods.items.find((item) => !item.metadata.deletionTimestamp)!;
  assert.equal(await bot.ok(['exec', pod.metadata.name, '-n', namespace, '--', 'echo', 'never replayed']), 'never replayed\n');
  await bot.ok(['delete', 'pod', pod.metadata.name, '-n', namespace, '--wait=false']);
  await bot.ok(['delete', 'configmap', 'settings', '-n', namespace]);
}

test('replay --sandbox reproduces a recorded session of every mutating call kind; a change made outside the session is exactly the difference', async () => {
  const cluster = await testCluster();
  operator = await startOperator(cluster);
  const admin = await cluster.kubectl();
  const home = await cluster.namespace('replay', { keep: true });
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(home, 'replayed')) });
  const grant = uniqueName('replayer');
  const subject = uniqueName('replay-bot');
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(accessGrant(home, grant, { subject: { kind: 'User', name: subject }, duration: '1h', access: [{ clusterRole: 'cluster-admin' }], policyRef: { name: 'replayed' }, requestedBy: 'kubegate-admin' })) });
  await grantActive(admin, home, grant);
  gateway = await startGateway(cluster, { namespace: home, name: 'replayed' });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace: home, name: grant }, gateway));
  await eventually(async () => void (await bot.ok(['auth', 'can-i', 'create', 'namespaces'])), 20_000);

  const first = uniqueName('replayed');
  await workOnDeployment(bot, admin, first);
  const split = new Date().toISOString();
  // the second part: a ConfigMap labelled by the admin (outside the gateway) between the bot's create and its patch
  const second = uniqueName('outside');
  await bot.ok(['create', 'namespace', second]);
  await bot.ok(['create', 'configmap', 'settings', '-n', second, '--from-literal=mode=first']);
  await admin.ok(['label', 'configmap', 'settings', '-n', second, 'changed-outside=yes']);
  await bot.ok(['patch', 'configmap', 'settings', '-n', second, '--type=merge', '-p', '{"data":{"mode":"second"}}']);
  // and an object the session found in the cluster (made by the admin): the replay seeds it, its namespace first
  const prior = await cluster.namespace('prior');
  await admin.ok(['create', 'configmap', 'existing', '-n', prior, '--from-literal=made=outside']);
  await bot.ok(['label', 'configmap', 'existing', '-n', prior, 'seen=yes']);
  // a Secret's data is recorded masked: never re-sent with the placeholders
  await bot.ok(['create', 'secret', 'generic', 'creds', '-n', second, '--from-literal=password=hunter2']);
  await gateway.stop(); // drains: every session closed and written

  const reproduced = await replay(gateway.store, ['--subject', subject, '--to-time', split, '--sandbox', '--keep', '-o', 'json']);
  assert.equal(reproduced.code, 0, reproduced.stderr + reproduced.stdout);
  const report = JSON.parse(reproduced.stdout) as ReplayReport;
  keptSandbox = /eval "\$\(kubegate sandbox env --dir (\S+)\)"/.exec(reproduced.stderr)?.[1];
  assert.ok(keptSandbox, `--keep says how to reach the sandbox: ${reproduced.stderr}`);
  assert.equal(report.as, 'admin');
  const lines = report.calls.map((call) => `${call.call}${call.contentType ? ` [${call.contentType}]` : ''} ${call.outcome}`);
  assert.match(lines[8] ?? '', new RegExp(`^delete pods ${first}/web-[a-z0-9]+-[a-z0-9]+ \\[application/json\\] reproduced$`), lines.join('\n'));
  lines[8] = 'delete pods (by owner) reproduced';
  assert.deepEqual(lines, [
    'create namespaces [application/vnd.kubernetes.protobuf] reproduced',
    `create configmaps ${first} [application/vnd.kubernetes.protobuf] reproduced`,
    `create deployments.apps ${first} [application/vnd.kubernetes.protobuf] reproduced`,
    `patch deployments.apps ${first}/web [application/json-patch+json] reproduced`,
    `patch deployments.apps ${first}/web [application/merge-patch+json] reproduced`,
    `patch deployments.apps ${first}/web [application/strategic-merge-patch+json] reproduced`,
    `patch deployments.apps ${first}/web [application/apply-patch+yaml] reproduced`,
    `patch deployments/scale.apps ${first}/web [application/merge-patch+json] reproduced`,
    'delete pods (by owner) reproduced',
    `delete configmaps ${first}/settings [application/json] reproduced`,
  ]);
  assert.deepEqual(report.totals, { reproduced: 10, differed: 0, skipped: 0, skippedBy: {} });
  assert.deepEqual(report.streams.map(({ call, command, hint }) => ({ call: call.replace(/web-\S+$/, 'POD'), command, hint: hint.replace(/\S+$/, 'SESSION') })), [
    { call: `create pods/exec ${first}/POD`, command: ['echo', 'never replayed'], hint: 'kubegate sessions play SESSION' },
  ]);
  assert.match(report.calls[8]!.matchedByOwner?.owner ?? '', /^ReplicaSet\/web-/, 'the pod is found by its ReplicaSet, not by its random name');
  assert.ok(report.callsPerSecond > 0);
  process.stderr.write(`replay speed: ${report.sent} calls in ${report.durationMs} ms (${report.callsPerSecond} calls/s; ${report.callsPerSecondExcludingWaits} calls/s without ${report.waitedMs} ms waiting for controllers)\n`);

  // the kept sandbox: its marker removed, --to refuses it; with --i-understand the second part shows the outside change
  const kept = readLiveState(keptSandbox)!;
  const target = new Kubectl(kept.binaries.kubectl, kept.kubeconfig);
  assert.equal((await target.ok(['get', 'deployment', 'web', '-n', first, '-o', 'jsonpath={.spec.replicas} {.metadata.labels.patched} {.metadata.labels.applied}'])), '2 json server-side');
  await target.ok(['delete', 'configmap', sandboxMarkerPath.split('/').pop()!, '-n', 'kube-public']);
  const refused = await replay(gateway.store, ['--subject', subject, '--from', split, '--to', kept.kubeconfig]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /carries no kubegate sandbox marker .*pass --i-understand/);
  const differed = await replay(gateway.store, ['--subject', subject, '--from', split, '--to', kept.kubeconfig, '--i-understand']);
  assert.equal(differed.code, 1, differed.stderr);
  assert.match(differed.stdout, new RegExp(`^#\\d+ patch configmaps ${second}/settings \\[application/merge-patch\\+json\\]  recorded 200 replayed 200  differed\\n    metadata\\.labels\\.changed-outside: recorded "yes", replayed \\(absent\\)\\n`, 'm'));
  assert.match(differed.stdout, new RegExp(`^seeded /api/v1/namespaces/${prior} \\(HTTP 201\\)\nseeded /api/v1/namespaces/${prior}/configmaps/existing \\(HTTP 201\\)$`, 'm'));
  assert.match(differed.stdout, new RegExp(`^#\\d+ patch configmaps ${prior}/existing \\[application/merge-patch\\+json\\]  recorded 200 replayed 200  reproduced$`, 'm'));
  assert.match(differed.stdout, new RegExp(`^#\\d+ create secrets ${second} \\[application/vnd.kubernetes.protobuf\\]  recorded 201  skipped: not reproducible: the recorded request body was masked$`, 'm'));
  assert.match(differed.stdout, /^3 reproduced, 1 differed, 1 skipped\n {2}skipped 1: not reproducible: the recorded request body was masked$/m, differed.stdout);
  assert.equal((await target.run(['get', 'secret', 'creds', '-n', second])).code, 1, 'the masked Secret was not created');
});
