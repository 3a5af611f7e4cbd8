/**
 * Object history end to end (issue 11, item 2): two subjects work through the real gateway with the real
 * kubectl — one creates a namespace and a pod in it, the other deletes the pod, which a RequireApproval
 * rule holds until a real approver approves it — and `kubegate history` answers "who created namespace
 * X" and "who deleted pod Y" from the store's per-object index, with subject, grant, approval, rule,
 * decision and status of each call, in time order. `sessions list --name` finds the create by the name
 * of the object it made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fixturePolicyRules, gatewayFixture } from '../harness/gateway-fixture.js';
import { jitKubeconfig } from '../harness/gateway.js';
import { accessGrant, uniqueName } from '../harness/kubegate-objects.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { Kubectl } from '../harness/kubectl.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { ObjectIndexEntry } from '../../src/recording/object-index.js';
import type { SessionIndex } from '../../src/recording/format.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
const podDeletes = { name: 'pod-deletes-need-a-human', match: { verbs: ['delete'], resources: ['pods'] }, action: 'RequireApproval' };
// the creator may make namespaces: cluster-admin everywhere (the gateway's own rules still apply)
const fixture = gatewayFixture({ rules: [...fixturePolicyRules, podDeletes], access: () => [{ clusterRole: 'cluster-admin' }] });

test('history namespaces/X and pods/Y -n X name the subject, grant, approval, rule and decision of each call, across two sessions of two subjects, in time order', async () => {
  const f = await fixture();
  const { admin, cluster, namespace, bot: creator } = f;
  await admin.ok(['create', 'rolebinding', uniqueName('approvers'), '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', namespace]);
  const cleanerGrant = uniqueName('cleanup-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, cleanerGrant, { subject: { kind: 'User', name: 'cleanup-bot' }, duration: '1h', access: [{ clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, cleanerGrant);
  const cleaner = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: cleanerGrant }, f.gateway));

  const [made, pod] = [uniqueName('made'), uniqueName('api')];
  await creator.ok(['create', 'namespace', made]);
  await eventually(async () => void (await creator.ok(['run', pod, '-n', made, '--image=registry.example/app:1.0', '--restart=Never'])), 20_000);
  await eventually(async () => void (await cleaner.ok(['get', 'pod', pod, '-n', made])), 20_000);
  const held = await cleaner.run(['delete', 'pod', pod, '-n', made, '--wait=false']);
  assert.notEqual(held.code, 0, 'the delete is held for approval');
  const approval = new RegExp(`ApprovalRequest ${namespace}/(\\S+) is Pending`).exec(held.stderr)?.[1];
  assert.ok(approval, held.stderr);
  const approver = cluster.kubeconfigFile(await cluster.tokenFor({ user: 'alice', groups: ['sre-leads'] }));
  await run(kubegate, ['approve', approval, '-n', namespace, '--reason', 'cleanup is due', '--kubeconfig', approver]);
  await eventually(async () => assert.equal((await admin.ok(['get', 'approvalrequest', approval, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
  await cleaner.ok(['delete', 'pod', pod, '-n', made, '--wait=false']);
  await f.gateway.stop(); // drains: every session is closed, sealed and uploaded

  const store = `file://${f.gateway.recordings}`;
  const history = async (args: string[]) => (await run(kubegate, ['history', ...args, '--store', store], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  const creatorGrant = `${namespace}/${f.grant}`;
  const calls = async (args: string[]) => (JSON.parse(await history([...args, '-o', 'json'])) as ObjectIndexEntry[]).filter((entry) => entry.verb !== 'get');

  const namespaceHistory = await calls([`namespaces/${made}`]);
  assert.deepEqual(namespaceHistory.map((entry) => [entry.verb, entry.subject, entry.grant, entry.decision, entry.status]), [['create', 'deploy-bot', creatorGrant, 'Allow', 201]], 'who created the namespace');

  const podHistory = await calls([`pods/${pod}`, '-n', made]);
  assert.deepEqual(
    podHistory.map((entry) => [entry.verb, entry.subject, entry.grant, entry.approval ?? null, entry.rule ?? null, entry.decision, entry.status]),
    [
      ['create', 'deploy-bot', creatorGrant, null, null, 'Allow', 201],
      ['delete', 'cleanup-bot', `${namespace}/${cleanerGrant}`, null, podDeletes.name, 'RequireApproval', 403],
      ['delete', 'cleanup-bot', `${namespace}/${cleanerGrant}`, approval, podDeletes.name, 'RequireApproval', 200],
    ],
    'who created the pod, whose delete was held, and who approved the delete that went through',
  );
  assert.ok(podHistory.every((entry, i) => i === 0 || entry.time >= podHistory[i - 1]!.time), 'in time order');
  assert.notEqual(podHistory[0]!.session, podHistory[2]!.session, 'two sessions');

  const table = await history([`po/${pod}`, '-n', made]);
  assert.match(table, /^TIME\s+VERB\s+SUBJECT\s+GRANT\s+APPROVAL\s+RULE\s+DECISION\s+STATUS\s+SESSION$/m);
  assert.match(table, new RegExp(`^\\S+Z\\s+delete\\s+cleanup-bot\\s+${namespace}/${cleanerGrant}\\s+${approval}\\s+${podDeletes.name}\\s+RequireApproval\\s+200\\s+[0-9a-f]{8}$`, 'm'));
  const deletesOnly = await calls([`pods/${pod}`, '-n', made, '--verb', 'delete', '--subject', 'cleanup-bot', '--decision', 'RequireApproval']);
  assert.equal(deletesOnly.length, 2, 'the selection flags narrow a history');

  // the create is found by the name of the object it made, which only its body holds
  const { stdout } = await run(kubegate, ['sessions', 'list', '--name', pod, '--verb', 'create', '--store', store, '-o', 'json']);
  assert.deepEqual((JSON.parse(stdout) as SessionIndex[]).map((session) => session.subject.name), ['deploy-bot']);
});
