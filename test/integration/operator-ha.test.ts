/** Two operator replicas with Lease leader election: one reconciles; the other takes over when it dies. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { testCluster } from '../harness/cluster.js';
import { operatorNamespace, startOperator, type RunningOperator } from '../harness/operator.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { eventually } from '../harness/workloads.js';

const running: RunningOperator[] = [];
after(() => Promise.all(running.map((o) => o.stop())));

test('the stand-by takes over within the lease duration when the leader is killed', async () => {
  const cluster = await testCluster();
  const kubectl = await cluster.kubectl();
  const lease = ['--lease-duration=4s', '--renew-deadline=3s', '--retry-period=500ms'];
  const first = await startOperator(cluster, { leaderElect: true, extraArgs: lease });
  const second = await startOperator(cluster, { leaderElect: true, extraArgs: lease });
  running.push(first, second);
  const holder = async () => (await kubectl.ok(['get', 'lease', 'kubegate-operator', '-n', operatorNamespace, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
  let leaderId = '';
  await eventually(async () => {
    leaderId = await holder();
    assert.ok(leaderId);
  }, 20_000);
  const pids = [first, second].map((o) => String(o.process.pid));
  const leader = leaderId.endsWith(`-${pids[0]}`) ? first : second;
  const standby = leader === first ? second : first;

  const namespace = await cluster.namespace('ha');
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod')) });
  const grant = (name: string) => JSON.stringify(accessGrant(namespace, name, { subject: { kind: 'User', name: 'bot' }, duration: '10m', access: [{ namespace, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' }));
  const phase = async (name: string) => (await kubectl.ok(['get', 'accessgrant', name, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim();
  const before = uniqueName('before');
  await kubectl.ok(['apply', '-f', '-'], { input: grant(before) });
  await eventually(async () => assert.equal(await phase(before), 'Active'), 60_000);

  await leader.kill();
  const killedAt = Date.now();
  const afterName = uniqueName('after');
  await kubectl.ok(['apply', '-f', '-'], { input: grant(afterName) });
  await eventually(async () => {
    const id = await holder();
    assert.ok(id.endsWith(`-${standby.process.pid}`), `holder ${id}`);
  }, 20_000, 100);
  const takeover = Date.now() - killedAt;
  await eventually(async () => assert.equal(await phase(afterName), 'Active'), 60_000);
  assert.ok(takeover < 4000 + 1500, `took over after ${takeover} ms (lease 4 s)`);
});
