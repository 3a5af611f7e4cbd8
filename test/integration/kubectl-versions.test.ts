/**
 * Every kubectl a user may have, through the real gateway: each pinned minor (testedKubectlVersions)
 * runs get, apply, exec, attach, cp, port-forward, logs -f and the approval flow, under a grant and on a
 * pod of its own. Their streams differ: 1.29 is the last kubectl to exec and attach over SPDY, 1.30 the
 * last to port-forward over SPDY; the recording's `stream-open` says which each one really spoke. And
 * each talks HTTP/2 to the gateway, as the gateway's count of requests by HTTP version shows.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testedKubectlVersions } from '../../src/sandbox/binaries.js';
import { jitKubeconfig, type RunningGateway } from '../harness/gateway.js';
import { gatewayFixture, recordedLines, type GatewayFixture, type RecordedLine } from '../harness/gateway-fixture.js';
import { accessGrant, uniqueName } from '../harness/kubegate-objects.js';
import { forwardedLocalPort, Kubectl } from '../harness/kubectl.js';
import { deploymentYaml, eventually, grantActive, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();
const versions = testedKubectlVersions();

/** The stream protocols kubectl of `version` speaks by default (RESEARCH.md, "Streaming protocols"), as recorded. */
function defaultProtocols(version: string): { exec: string; portForward: string } {
  const minor = Number(version.split('.')[1]);
  return {
    exec: minor <= 29 ? 'spdy v4.channel.k8s.io' : 'websocket v5.channel.k8s.io',
    portForward: minor <= 30 ? 'spdy portforward.k8s.io' : 'websocket SPDY/3.1+portforward.k8s.io',
  };
}

interface Ground {
  f: GatewayFixture;
  /** One pod per version, in the order of `versions`. */
  pods: string[];
}

let ground: Promise<Ground> | undefined;

/** The fixture, a pod for each version, and approvers (group sre-leads) for the policy. */
function prepared(): Promise<Ground> {
  return (ground ??= (async () => {
    const f = await setup();
    await f.admin.ok(['apply', '-n', f.target, '-f', '-'], { input: deploymentYaml('kubectls', versions.length) });
    await f.admin.ok(['rollout', 'status', 'deployment/kubectls', '-n', f.target, '--timeout=60s']);
    await f.admin.ok(['create', 'rolebinding', 'approvers', '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', f.namespace]);
    const pods = await podNames(f.admin, f.target, 'app=kubectls');
    // kwok never closes an exec's stdin, so `tar -x` (kubectl cp into a pod) would wait for the rest of its
    // 10 KiB record forever; with records of one block it stops at the archive's end (GNU tar reads TAR_OPTIONS)
    const tarOptions = '--blocking-factor=1';
    const execs = pods.map((pod) => ({ apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'Exec', metadata: { name: pod }, spec: { execs: [{ local: { envs: [{ name: 'TAR_OPTIONS', value: tarOptions }] } }] } }));
    await f.admin.ok(['apply', '-n', f.target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: execs }) });
    for (const pod of pods) {
      await eventually(async () => assert.equal(await f.admin.ok(['exec', '-n', f.target, pod, '--', 'sh', '-c', 'echo "$TAR_OPTIONS"']), `${tarOptions}\n`), 20_000);
    }
    return { f, pods };
  })());
}

interface Caller {
  f: GatewayFixture;
  kubectl: Kubectl;
  grant: string;
  pod: string;
}

/** The kubectl of `version` through the gateway, under an Active grant of its own (edit in the target). */
async function callerFor(version: string): Promise<Caller> {
  const { f, pods } = await prepared();
  const grant = uniqueName(`kubectl-${version.replaceAll('.', '-')}`);
  await f.admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(f.namespace, grant, { subject: { kind: 'User', name: `kubectl-user-${version}` }, duration: '1h', access: [{ namespace: f.target, clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(f.admin, f.namespace, grant);
  const kubectl = Kubectl.atVersion(version, await jitKubeconfig(f.cluster, { namespace: f.namespace, name: grant }, f.gateway));
  await eventually(async () => void (await kubectl.ok(['get', 'pods', '-n', f.target])), 20_000);
  return { f, kubectl, grant, pod: pods[versions.indexOf(version)]! };
}

/** The protocols of the streams the gateway recorded for requests to `pod`'s `subresource` (exec, attach, portforward). */
function recordedProtocols(gateway: RunningGateway, pod: string, subresource: string): string[] {
  const events = recordedLines(gateway).map((line) => JSON.parse(line) as RecordedLine);
  const target = new RegExp(`/pods/${pod}/${subresource}(\\?|$)`);
  const requests = new Set(events.filter((event) => event.type === 'request' && target.test(event.path!)).map((event) => event.requestId));
  return [...new Set(events.filter((event) => event.type === 'stream-open' && requests.has(event.requestId)).map((event) => event.protocol!))];
}

/** The gateway's count of requests received, by the HTTP version the client spoke. */
async function requestsByHttpVersion(gateway: RunningGateway): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, version, count] of metrics.matchAll(/^kubegate_gateway_requests_by_http_version_total\{http_version="([^"]+)"\} (\d+)$/gm)) counts[version!] = Number(count);
  return counts;
}

/** How many requests of each HTTP version the gateway received while `run` ran. */
async function httpVersionsOf(gateway: RunningGateway, run: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await requestsByHttpVersion(gateway);
  await run();
  const after = await requestsByHttpVersion(gateway);
  return Object.fromEntries(Object.entries(after).map(([version, count]) => [version, count - (before[version] ?? 0)]).filter(([, delta]) => delta !== 0));
}

/** Appends `line` to the kwok pods' log (what attach and logs -f stream) until `seen()` shows it. */
async function logUntilSeen(f: GatewayFixture, line: string, seen: () => string): Promise<void> {
  await eventually(async () => {
    appendFileSync(join(f.cluster.state.dir, 'kwok', 'pod.log'), `${new Date().toISOString()} stdout F ${line}\n`);
    assert.match(seen(), new RegExp(line));
  }, 20_000, 500);
}

for (const version of versions) {
  describe(`kubectl ${version}`, () => {
    const expected = defaultProtocols(version);
    let caller: Promise<Caller> | undefined;
    const as = () => (caller ??= callerFor(version));

    test('is the version pinned, and talks HTTP/2 to the gateway (HTTP/1.1 only when told to)', async () => {
      const { f, kubectl } = await as();
      assert.equal(JSON.parse(await kubectl.ok(['version', '--client', '-o', 'json'])).clientVersion.gitVersion, version);
      assert.deepEqual(Object.keys(await httpVersionsOf(f.gateway, () => kubectl.ok(['get', 'pods', '-n', f.target]))), ['2.0']);
      // the same count tells the other protocol apart: client-go's DISABLE_HTTP2 makes kubectl speak HTTP/1.1
      assert.deepEqual(Object.keys(await httpVersionsOf(f.gateway, () => kubectl.ok(['get', 'pods', '-n', f.target], { env: { DISABLE_HTTP2: 'true' } }))), ['1.1']);
    });

    test('get and apply, client-side and server-side', async () => {
      const { f, kubectl } = await as();
      const name = uniqueName('settings');
      const configMap = (mode: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { mode } });
      await kubectl.ok(['apply', '-n', f.target, '-f', '-'], { input: configMap('client-side') });
      assert.equal((await kubectl.ok(['get', 'configmap', name, '-n', f.target, '-o', 'jsonpath={.data.mode}'])).trim(), 'client-side');
      await kubectl.ok(['apply', '--server-side', '--force-conflicts', '-n', f.target, '-f', '-'], { input: configMap('server-side') });
      const applied = JSON.parse(await kubectl.ok(['get', 'configmap', name, '-n', f.target, '-o', 'json', '--show-managed-fields']));
      assert.equal(applied.data.mode, 'server-side');
      assert.ok(applied.metadata.managedFields.some((field: { operation: string }) => field.operation === 'Apply'), 'applied server-side');
    });

    test(`exec with stdin (-i) over ${expected.exec}`, async () => {
      const { f, kubectl, pod } = await as();
      const result = await kubectl.run(['exec', '-i', '-n', f.target, pod, '--', 'sh', '-c', 'read line; echo "got $line"; echo err >&2'], { input: `from ${version}\n` });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `got from ${version}\n`);
      assert.match(result.stderr, /^err$/m);
      await eventually(async () => assert.deepEqual(recordedProtocols(f.gateway, pod, 'exec'), [expected.exec]), 20_000);
    });

    test(`attach over ${expected.exec}`, async () => {
      const { f, kubectl, pod } = await as();
      const attach = kubectl.start(['attach', '-n', f.target, pod]);
      try {
        let attached = '';
        attach.stdout!.on('data', (chunk: Buffer) => (attached += chunk.toString()));
        await logUntilSeen(f, `attached with ${version}`, () => attached);
      } finally {
        attach.kill();
      }
      await eventually(async () => assert.deepEqual(recordedProtocols(f.gateway, pod, 'attach'), [expected.exec]), 20_000);
    });

    test('cp into the pod and out of it (tar over exec)', async () => {
      const { f, kubectl, pod } = await as();
      // kwok runs exec commands on this machine: the "container" filesystem is the host's
      const [local, remote] = [mkdtempSync(join(tmpdir(), 'kubegate-cp-')), mkdtempSync(join(tmpdir(), 'kubegate-cp-remote-'))];
      writeFileSync(join(local, 'upload.txt'), `uploaded by ${version}\n`);
      await kubectl.ok(['cp', '-n', f.target, join(local, 'upload.txt'), `${pod}:${remote}/upload.txt`]);
      assert.equal(readFileSync(join(remote, 'upload.txt'), 'utf8'), `uploaded by ${version}\n`);
      writeFileSync(join(remote, 'report.txt'), `from the pod to ${version}\n`);
      await kubectl.ok(['cp', '-n', f.target, `${pod}:${remote}/report.txt`, join(local, 'report.txt')]);
      assert.equal(readFileSync(join(local, 'report.txt'), 'utf8'), `from the pod to ${version}\n`);
    });

    test(`port-forward carries bytes both ways over ${expected.portForward}`, async () => {
      const { f, kubectl, pod } = await as();
      const forward = kubectl.start(['port-forward', '-n', f.target, `pod/${pod}`, ':8080']);
      try {
        const port = await forwardedLocalPort(forward, 8080);
        // the kwok pod's port echoes what it receives
        const sent = randomBytes(64 * 1024);
        const socket = connect(port, '127.0.0.1');
        const received: Buffer[] = [];
        let length = 0;
        const echoed = new Promise<void>((resolve) =>
          socket.on('data', (chunk: Buffer) => {
            received.push(chunk);
            if ((length += chunk.length) >= sent.length) resolve();
          }),
        );
        socket.end(sent);
        await echoed;
        socket.destroy();
        assert.ok(Buffer.concat(received).equals(sent), 'the echo is the bytes sent');
      } finally {
        forward.kill();
      }
      await eventually(async () => assert.deepEqual(recordedProtocols(f.gateway, pod, 'portforward'), [expected.portForward]), 20_000);
    });

    test('invariant 6: a held delete is refused with KG_APPROVAL_REQUIRED, approved, then admitted', async () => {
      const { f, kubectl } = await as();
      const configMap = uniqueName('doomed');
      await f.admin.ok(['create', 'configmap', configMap, '-n', f.target]);
      // -v=4: kubectl logs the Status the gateway answered with, causes and all
      const held = await kubectl.run(['delete', 'configmap', configMap, '-n', f.target, '-v=4']);
      assert.notEqual(held.code, 0);
      assert.match(held.stderr, /KG_APPROVAL_REQUIRED/);
      const request = new RegExp(`ApprovalRequest ${f.namespace}/(\\S+) is Pending`).exec(held.stderr)?.[1];
      assert.ok(request, held.stderr);
      const alice = await f.cluster.kubectl({ user: 'alice', groups: ['sre-leads'] });
      await eventually(() => alice.ok(['patch', 'approvalrequest', request, '-n', f.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/decisions', value: [{ decision: 'Approve', by: 'alice', reason: `kubectl ${version}` }] }])]).then(() => undefined));
      await eventually(async () => assert.equal((await f.admin.ok(['get', 'approvalrequest', request, '-n', f.namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Approved'), 20_000);
      await kubectl.ok(['delete', 'configmap', configMap, '-n', f.target]);
      assert.notEqual((await f.admin.run(['get', 'configmap', configMap, '-n', f.target])).code, 0, 'deleted');
    });

    // last for this version: it revokes the version's grant
    test('invariant 11: logs -f follows until the grant is revoked', async () => {
      const { f, kubectl, pod, grant } = await as();
      const logs = kubectl.start(['logs', '-f', '-n', f.target, pod]);
      try {
        let followed = '';
        logs.stdout!.on('data', (chunk: Buffer) => (followed += chunk.toString()));
        await logUntilSeen(f, `followed by ${version}`, () => followed);
        assert.equal(logs.exitCode, null, 'still following');
        await f.admin.ok(['patch', 'accessgrant', grant, '-n', f.namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
        // the gateway ends it within 2 s; kubectl then exits (a rejection here: still following)
        if (logs.exitCode === null) await once(logs, 'exit', { signal: AbortSignal.timeout(3000) });
      } finally {
        logs.kill();
      }
    });
  });
}
