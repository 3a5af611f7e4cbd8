/**
 * `kubegate replay --to` and its flags end to end: the real kubectl creates three ConfigMaps through the
 * real gateway in one session (one `kubectl create -f -` of a List: three POSTs, one seq each), and the
 * real `kubegate replay` process sends them back to the test cluster itself.
 *
 * Why the test cluster is the target: it is a `kubegate sandbox` and carries the marker `--to` asks for.
 * The replays do not collide with the originals because the recorded ConfigMaps are deleted once the
 * session is recorded (their namespace stays, so the replay seeds nothing): each test starts from that
 * empty namespace, and what it finds there afterwards is what the replay made. For the refusal the marker
 * is taken away for the one call and put back (test files run one at a time on the shared sandbox).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxMarker } from '../../src/kube/sandbox-marker.js';
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
after(async () => {
  await gateway?.stop();
  await operator?.stop();
});

const names = ['one', 'two', 'three'];

interface Recorded {
  admin: Kubectl;
  /** The admin kubeconfig of the test cluster: the replays' target. */
  target: string;
  namespace: string;
  /** Replay's selection of the one session that created the ConfigMaps. */
  selection: string[];
}

let recorded: Recorded;

before(async () => {
  const cluster = await testCluster();
  operator = await startOperator(cluster);
  const admin = await cluster.kubectl();
  const home = await cluster.namespace('flags-home', { keep: true });
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(home, 'flags')) });
  const grant = uniqueName('flagger');
  const subject = uniqueName('flags-bot');
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(accessGrant(home, grant, { subject: { kind: 'User', name: subject }, duration: '1h', access: [{ clusterRole: 'cluster-admin' }], policyRef: { name: 'flags' }, requestedBy: 'kubegate-admin' })) });
  await grantActive(admin, home, grant);
  gateway = await startGateway(cluster, { namespace: home, name: 'flags' });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace: home, name: grant }, gateway));
  await eventually(async () => void (await bot.ok(['auth', 'can-i', 'create', 'configmaps'])), 20_000);

  const namespace = await cluster.namespace('flags-work', { keep: true });
  const from = new Date().toISOString();
  const list = { apiVersion: 'v1', kind: 'List', items: names.map((name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { name } })) };
  await bot.ok(['create', '-f', '-'], { input: JSON.stringify(list) });
  await gateway.stop(); // drains: the session closed and written
  recorded = { admin, target: cluster.state.kubeconfig, namespace, selection: ['--store', gateway.store, '--subject', subject, '--from', from] };
});

/** The recorded ConfigMaps gone from the cluster: what a replay makes is then all there is. */
async function clearReplayed(): Promise<void> {
  await recorded.admin.ok(['delete', 'configmap', ...names, '-n', recorded.namespace, '--ignore-not-found']);
}

async function presentConfigMaps(): Promise<string[]> {
  const found = await recorded.admin.ok(['get', 'configmaps', '-n', recorded.namespace, '-o', 'jsonpath={.items[*].metadata.name}']);
  return found.split(' ').filter((name) => names.includes(name));
}

const replay = (args: string[], input = '') => runKubegate(['replay', ...recorded.selection, '--to', recorded.target, ...args], { input });

const callLines = (report: ReplayReport) => report.calls.map((call) => `${call.call} ${call.outcome}${call.reason ? `: ${call.reason}` : ''}`);

test('replay --to a cluster without the sandbox marker is refused, says how to go on, and creates nothing', async () => {
  await clearReplayed();
  const { admin } = recorded;
  const marker = JSON.parse(await admin.ok(['get', 'configmap', sandboxMarker.name, '-n', sandboxMarker.namespace, '-o', 'json'])) as { data: Record<string, string> };
  await admin.ok(['delete', 'configmap', sandboxMarker.name, '-n', sandboxMarker.namespace]);
  try {
    const refused = await replay([]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /carries no kubegate sandbox marker \(ConfigMap kube-public\/kubegate-sandbox\): replay writes recorded calls into it; pass --i-understand to replay there anyway/);
    assert.equal(refused.stdout, '');
  } finally {
    await admin.ok(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: sandboxMarker, data: marker.data }) });
  }
  assert.deepEqual(await presentConfigMaps(), []);
});

test('replay --dry-run sends every call with dryRun=All: reported as reproduced, and none of the objects is in the target', async () => {
  await clearReplayed();
  const dry = await replay(['--dry-run', '-o', 'json']);
  assert.equal(dry.code, 0, dry.stderr + dry.stdout);
  const report = JSON.parse(dry.stdout) as ReplayReport;
  assert.equal(report.dryRun, true);
  assert.deepEqual(callLines(report), names.map(() => `create configmaps ${recorded.namespace} reproduced`));
  assert.deepEqual(report.seeded, [], 'the namespace is there: nothing to seed');
  assert.deepEqual(await presentConfigMaps(), []);
  const text = await replay(['--dry-run']);
  assert.match(text.stdout, /^replayed 3 calls to .* as admin \(server-side dry run\) in /m, text.stdout);
  assert.deepEqual(await presentConfigMaps(), []);
});

test('replay --until SEQ replays the calls up to that seq and stops: the later object is not made', async () => {
  await clearReplayed();
  const all = JSON.parse((await replay(['--dry-run', '-o', 'json'])).stdout) as ReplayReport;
  const seqs = all.calls.map((call) => call.seq);
  assert.equal(seqs.length, 3);
  const until = await replay(['--until', String(seqs[1]), '-o', 'json']);
  assert.equal(until.code, 0, until.stderr + until.stdout);
  const report = JSON.parse(until.stdout) as ReplayReport;
  assert.deepEqual(report.calls.map((call) => [call.seq, call.outcome]), [[seqs[0], 'reproduced'], [seqs[1], 'reproduced']]);
  assert.deepEqual((await presentConfigMaps()).sort(), ['one', 'two']);
  const refused = await replay(['--until', 'two']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /--until must be a seq number, got "two"/);
});

test('replay --step reads answers piped to stdin: yes replays, skip is reported as skipped at the prompt, quit stops', async () => {
  await clearReplayed();
  const stepped = await replay(['--step', '-o', 'json'], 'y\nskip\nq\n');
  assert.equal(stepped.code, 0, stepped.stderr + stepped.stdout);
  const report = JSON.parse(stepped.stdout) as ReplayReport;
  assert.deepEqual(callLines(report), [`create configmaps ${recorded.namespace} reproduced`, `create configmaps ${recorded.namespace} skipped: skipped at the prompt (--step)`]);
  assert.equal(stepped.stderr.match(/: replay\? \[Y\]es, \[s\]kip, \[q\]uit /g)?.length, 3, stepped.stderr);
  assert.deepEqual(await presentConfigMaps(), ['one']);

  // stdin ending before an answer stops the replay: nothing is sent unasked
  await clearReplayed();
  const ended = await replay(['--step', '-o', 'json'], 'yes\n');
  assert.equal(ended.code, 0, ended.stderr + ended.stdout);
  assert.deepEqual(callLines(JSON.parse(ended.stdout) as ReplayReport), [`create configmaps ${recorded.namespace} reproduced`]);
  assert.match(ended.stderr, /\(no answer: stdin ended\) quit/);
  assert.deepEqual(await presentConfigMaps(), ['one']);
});
