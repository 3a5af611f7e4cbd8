/**
 * `kubegate gateway --workers 2` as a real process, its connections handed to the workers in turn: an
 * approved ApprovalRequest raced by requests on several connections (so through both workers) admits one
 * of them only; ending a session one kubectl invocation holds in both workers ends it in both; and one
 * kubectl invocation (its `Kubectl-Session`) whose requests reach both workers is one session with a
 * writer per worker, which `sessions verify` finds intact and `sessions show` reads as one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gatewayCall, gatewayFixture, type GatewayFixture } from '../harness/gateway-fixture.js';
import { uniqueName } from '../harness/kubegate-objects.js';
import { account, liveCall } from '../harness/live-events.js';
import { eventually } from '../harness/workloads.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { VerifyReport } from '../../src/audit/verify.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
// segments stay in the spool while their session runs: each worker's spool shows what it recorded
const setup = gatewayFixture({ gatewayArgs: ['--workers=2', '--segment-max-age-ms=600000'] });

/** A watch of the target's ConfigMaps as kubectl invocation `invocation` sends it, on a connection of its own: once answered. */
function openWatch(f: GatewayFixture, invocation: string): Promise<IncomingMessage> {
  const url = new URL(f.gateway.url);
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${f.token}`, 'kubectl-session': invocation };
    request({ hostname: url.hostname, port: url.port, path: `/api/v1/namespaces/${f.target}/configmaps?watch=1`, ca: f.ca, agent: false, headers }, (response) => {
      assert.equal(response.statusCode, 200);
      response.on('error', () => undefined).resume();
      resolve(response);
    })
      .on('error', reject)
      .end();
  });
}

/** The spool folders of kubectl invocations' sessions (`<session-id>.<writer-id>`: joinable chains) in worker `index`'s spool. */
function invocationChains(f: GatewayFixture, index: number): string[] {
  return [...new Set(workerEvents(f, index).map((event) => event.folder))].filter((folder) => folder.includes('.'));
}

/** The recorded events in worker `index`'s spool, each with the spool folder (chain) it is in. */
function workerEvents(f: GatewayFixture, index: number): Array<{ folder: string; type: string; method?: string; path?: string }> {
  const dir = join(f.gateway.spoolDir, `worker-${index}`);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => /(^|\/)segment-\d{6}\.jsonl$/.test(file))
    .flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => line.endsWith('}'))
        .map((line) => ({ folder: file.split('/')[0]!, ...(JSON.parse(line) as { type: string; method?: string; path?: string }) })),
    );
}

async function approve(f: GatewayFixture, request: string): Promise<void> {
  const kubeconfig = f.cluster.kubeconfigFile(await f.cluster.tokenFor({ user: 'alice', groups: ['sre-leads'] }));
  await run(kubegate, ['approve', request, '-n', f.namespace, '--reason', 'once', '--kubeconfig', kubeconfig]);
  await eventually(async () => assert.equal((await f.admin.ok(['get', 'approvalrequest', request, '-n', f.namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
}

test('invariant 6: an approval raced through both workers admits exactly one request', { timeout: 120_000 }, async () => {
  const f = await setup();
  await f.admin.ok(['create', 'rolebinding', uniqueName('approvers'), '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', f.namespace]);
  const configMap = uniqueName('cm');
  await f.admin.ok(['create', 'configmap', configMap, '-n', f.target, '--from-literal=k=v']);
  const path = `/api/v1/namespaces/${f.target}/configmaps/${configMap}`;
  const remove = () => gatewayCall(f, path, { authorization: `Bearer ${f.token}` }, { method: 'DELETE', newConnection: true });
  const held = await remove();
  assert.equal(held.status, 403, held.body);
  const request = (JSON.parse(held.body) as { details: { name: string } }).details.name;
  await approve(f, request);

  // at once, so on connections of their own, which the primary hands to the workers in turn
  const raced = await Promise.all(Array.from({ length: 6 }, remove));
  const admitted = raced.filter((response) => response.status === 200);
  assert.equal(admitted.length, 1, `one admitted: ${raced.map((response) => response.status).join(', ')}`);
  for (const refused of raced.filter((response) => response.status !== 200)) {
    assert.equal(refused.status, 403, 'held again, never forwarded a second time (the API server would answer 404)');
    assert.notEqual((JSON.parse(refused.body) as { details: { name: string } }).details.name, request, 'a new ApprovalRequest: the approved one is spent');
  }
  const deletes = (index: number) => workerEvents(f, index).filter((event) => event.type === 'request' && event.method === 'DELETE' && event.path === path).length;
  await eventually(async () => assert.equal(deletes(0) + deletes(1), 7, 'every delete recorded'), 10_000, 50);
  assert.ok(deletes(0) >= 2 && deletes(1) >= 2, `both workers took part in the race: ${deletes(0)} and ${deletes(1)}`);
  assert.equal((await f.admin.ok(['get', 'approvalrequest', request, '-n', f.namespace, '-o', 'jsonpath={.status.consumedAt}'])).trim() !== '', true);
});

test('ending a session that one kubectl invocation holds in both workers ends its requests in both', { timeout: 120_000 }, async () => {
  const f = await setup();
  const approver = await account(f.admin, f.namespace, 'kubegate-approver');
  const invocation = randomUUID();
  // watches of one invocation, each on a connection of its own, until both workers hold some
  const watches: IncomingMessage[] = [];
  await eventually(
    async () => {
      watches.push(...(await Promise.all(Array.from({ length: 2 }, () => openWatch(f, invocation)))));
      assert.ok(invocationChains(f, 0).length === 1 && invocationChains(f, 1).length === 1, 'a chain of the invocation in each worker');
    },
    20_000,
    50,
  );
  const sessionId = invocationChains(f, 0)[0]!.split('.')[0]!;
  assert.equal(invocationChains(f, 1)[0]!.split('.')[0], sessionId);
  const closed = watches.map((watch) => new Promise((resolve) => watch.on('close', resolve)));
  const ended = await liveCall(f.gateway.eventsUrl, f.ca, 'DELETE', `/sessions/${sessionId}`, approver.token);
  assert.deepEqual({ status: ended.status, body: JSON.parse(ended.body) }, { status: 200, body: { ended: watches.length } }, 'every watch, in both workers');
  await Promise.all(closed);
});

test('one kubectl invocation whose requests reach both workers is one session, a writer per worker, verified intact', { timeout: 120_000 }, async () => {
  const f = await setup();
  const ended = [...invocationChains(f, 0), ...invocationChains(f, 1)]; // an earlier test's
  const invocation = randomUUID();
  const headers = { authorization: `Bearer ${f.token}`, 'kubectl-session': invocation, 'user-agent': 'kubectl/v1.35.0 (linux/amd64) kubernetes/workers-test', 'kubectl-command': 'kubectl get' };
  const chains = (index: number) => invocationChains(f, index).filter((folder) => !ended.includes(folder));
  // at once, so on connections of their own, until each worker has recorded some
  await eventually(
    async () => {
      const calls = await Promise.all(Array.from({ length: 4 }, () => gatewayCall(f, `/api/v1/namespaces/${f.target}/configmaps`, headers, { newConnection: true })));
      assert.deepEqual(calls.map((call) => call.status), [200, 200, 200, 200]);
      assert.ok(chains(0).length === 1 && chains(1).length === 1, `a chain in each worker: ${chains(0)} | ${chains(1)}`);
    },
    20_000,
    50,
  );
  const sessionId = chains(0)[0]!.split('.')[0]!;
  assert.equal(chains(1)[0]!.split('.')[0], sessionId, 'both workers gave the invocation the same session id');

  await f.gateway.stop(); // the session closes in each worker and every chain reaches the store
  const store = ['--store', `file://${f.gateway.recordings}`];
  const verified = JSON.parse((await run(kubegate, ['sessions', 'verify', sessionId, ...store, '-o', 'json'])).stdout) as VerifyReport[];
  assert.equal(verified.length, 1);
  assert.equal(verified[0]!.status, 'intact', JSON.stringify(verified[0]!.problems));
  assert.equal(verified[0]!.writers.length, 2, 'a writer per worker');
  const shown = (await run(kubegate, ['sessions', 'show', sessionId, ...store])).stdout;
  assert.equal(shown.match(/session start/g)?.length, 1, shown);
  assert.equal(shown.match(/\+ writer \S+ joins/g)?.length, 1, shown);
  assert.ok((shown.match(/ list configmaps /g)?.length ?? 0) >= 4, shown);
});
