/**
 * Bodies that are not text, through the real gateway with the real kubectl and API server: under a policy
 * that masks nothing (so the gateway lets kubectl's protobuf through), a protobuf response is recorded as
 * base64 of exactly the bytes the client received (a raw GET, and kubectl describe's typed GET) — not as
 * lossy UTF-8 — and `kubegate sessions show` prints it by its size. Under a policy that masks, the gateway asks for JSON instead (invariant 9).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { gatewayFixture } from '../harness/gateway-fixture.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { RecordedEvent } from '../../src/recording/format.js';

const setup = gatewayFixture();
const protobuf = 'application/vnd.kubernetes.protobuf';
const magic = Buffer.from('k8s\0');

interface RawAnswer {
  status: number;
  contentType?: string;
  bytes: Buffer;
}

/** One GET with exactly this Accept, its answer's bytes as received. */
function rawGet(server: string, ca: string, token: string, path: string, accept: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, server);
    const req = request({ hostname: url.hostname, port: url.port, path, ca, headers: { accept, authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Recorded = RecordedEvent & { session: string; requestId?: string; path?: string; contentType?: string; body?: string; bodyEncoding?: string; bodyBytes?: number };

/** Every event the gateway recorded (spool and store), each with the session id its file's folder names. */
function recordedEvents(gateway: RunningGateway): Recorded[] {
  return [gateway.recordings, gateway.spoolDir].flatMap((dir) =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && /^segment-\d{6}\.jsonl$/.test(entry.name))
      .flatMap((entry) => {
        const parts = relative(dir, join(entry.parentPath, entry.name)).split(sep);
        // store: sessions/Y/M/D/<subject>/<session>/<writer>/segment…; spool: worker-<n>/<session>/segment…
        const session = parts[0] === 'sessions' ? parts[5]! : parts[1]!;
        return readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n').filter(Boolean).map((line) => ({ ...(JSON.parse(line) as RecordedEvent), session }) as Recorded);
      }),
  );
}

/** The recorded response to a request for `path` other than those `seen`, in `contentType`, once there is one. */
async function recordedResponse(gateway: RunningGateway, path: string, contentType: string, seen: Recorded[] = []): Promise<Recorded> {
  let found: Recorded | undefined;
  await eventually(async () => {
    const events = recordedEvents(gateway);
    const ids = new Set(events.filter((event) => event.type === 'request' && event.path === path).map((event) => event.requestId));
    for (const old of seen) ids.delete(old.requestId);
    found = events.find((event) => event.type === 'response' && ids.has(event.requestId) && event.contentType?.startsWith(contentType));
    assert.ok(found, `a ${contentType} response to GET ${path} is recorded`);
  }, 20_000);
  return found!;
}

/** A second gateway whose policy masks nothing, with a bot granted edit in the fixture's target. */
async function unmaskedGateway(): Promise<{ gateway: RunningGateway; bot: Kubectl; token: string; ca: string; target: string }> {
  const { admin, namespace, target, cluster } = await setup();
  const policy = uniqueName('plain');
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, policy, { masking: { secrets: false } })) });
  const grant = uniqueName('plain-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'plain-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: policy }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);
  const gateway = await startGateway(cluster, { namespace, name: policy });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
  const kubeconfig = readFileSync(bot.kubeconfig, 'utf8');
  const token = /token: (\S+)/.exec(kubeconfig)![1]!;
  const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfig)![1]!, 'base64').toString();
  return { gateway, bot, token, ca, target };
}

test('a protobuf response where nothing is masked is recorded as base64 of exactly the bytes received, and sessions show prints its size', async () => {
  const { admin, cluster } = await setup();
  const { gateway, bot, token, ca, target } = await unmaskedGateway();
  try {
    const name = uniqueName('settings');
    await admin.ok(['create', 'configmap', name, '-n', target, '--from-literal=colour=blue', '--from-literal=binary-ish=é\u00ff']);
    const path = `/api/v1/namespaces/${target}/configmaps/${name}`;
    const accept = `${protobuf}, application/json`;
    const direct = await rawGet(cluster.state.apiserver.url, readFileSync(cluster.state.apiserver.caFile, 'utf8'), cluster.state.apiserver.adminToken, path, accept);
    assert.equal(direct.contentType, protobuf, 'the API server answers this Accept in protobuf');
    const through = await rawGet(gateway.url, ca, token, path, accept);
    assert.equal(through.status, 200);
    assert.equal(through.contentType, protobuf, 'nothing is masked: the gateway leaves the Accept as it is');
    assert.ok(through.bytes.equals(direct.bytes), 'the gateway passes the protobuf bytes as the API server sent them');
    const raw = await recordedResponse(gateway, path, protobuf);
    assert.equal(raw.contentType, protobuf);
    assert.equal(raw.bodyEncoding, 'base64');
    assert.ok(Buffer.from(raw.body!, 'base64').equals(through.bytes), 'the recorded body decodes to exactly the bytes the client received');
    assert.equal(raw.bodyBytes, through.bytes.length);

    // kubectl's typed read asks for protobuf first (describe's describer does; its lookup, like `get -o yaml`, reads JSON)
    assert.match(await bot.ok(['describe', 'configmap', name, '-n', target]), /colour:\s*-+\s*blue/);
    const described = await recordedResponse(gateway, path, protobuf, [raw]);
    assert.equal(described.contentType, protobuf);
    assert.equal(described.bodyEncoding, 'base64');
    const bytes = Buffer.from(described.body!, 'base64');
    assert.ok(bytes.subarray(0, 4).equals(magic) && bytes.equals(direct.bytes), 'the recording holds the protobuf bytes the API server sent kubectl');

    await gateway.stop(); // every session closed and in the store
    const run = promisify(execFile);
    const { stdout } = await run(join(packageRoot(), 'bin', 'kubegate'), ['sessions', 'show', raw.session, '--store', `file://${gateway.recordings}`]);
    assert.match(stdout, new RegExp(`get configmaps ${target}/${name} .* 200 \\d+ms {2}\\[response body: ${through.bytes.length} bytes, base64, application/vnd\\.kubernetes\\.protobuf\\]`));
    assert.ok(!stdout.includes(raw.body!), 'the base64 is not printed');
    const verified = await run(join(packageRoot(), 'bin', 'kubegate'), ['sessions', 'verify', raw.session, '--store', `file://${gateway.recordings}`]);
    assert.equal(verified.stderr, '', 'the v3 lines with base64 bodies validate');
  } finally {
    await gateway.stop();
  }
});

test('invariant 9: where the policy masks (patterns), a protobuf Accept is answered in JSON and recorded as masked text', async () => {
  const { target, gateway, token, ca, admin } = await setup();
  const name = uniqueName('keys');
  const key = 'AKIAABCDEFGHIJKLMNOP';
  await admin.ok(['create', 'configmap', name, '-n', target, `--from-literal=key=${key}`]);
  const path = `/api/v1/namespaces/${target}/configmaps/${name}`;
  const answer = await rawGet(gateway.url, ca, token, path, `${protobuf}, application/json`);
  assert.equal(answer.status, 200);
  assert.match(answer.contentType ?? '', /^application\/json/, 'preferJson asked the API server for JSON');
  assert.ok(!answer.bytes.includes(key), 'the key is masked in the answer');
  const recorded = await recordedResponse(gateway, path, 'application/json');
  assert.equal(recorded.bodyEncoding, undefined, 'JSON is recorded as text');
  assert.ok(recorded.body!.includes('*'.repeat(20)) && !recorded.body!.includes(key));
});
