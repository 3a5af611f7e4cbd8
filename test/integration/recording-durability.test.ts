/**
 * Durable recording against the sandbox's real MinIO (object lock and versioning on), with the real
 * gateway process and the real kubectl through it:
 *  (a) API calls and an interactive exec land under the browsable keys, segments under GOVERNANCE retention;
 *  (b) MinIO stopped (SIGSTOP: it still accepts connections, and answers nothing) for 60 s mid-session:
 *      Spool keeps kubectl working and loses nothing; FailClosed refuses with a clear message, and every
 *      request the API server saw from that gateway (its audit log) is in the bucket afterwards;
 *  (c) the gateway SIGKILLed mid-exec and restarted over the same spool: the spool is uploaded, the
 *      unsynced tail recorded as a `gap`, the session ended with `gateway-crash`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { openStore } from '../../src/recording/open-store.js';
import type { RecordedEvent, SegmentManifest, SessionIndex } from '../../src/recording/format.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { jitKubeconfig, sandboxS3Env, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';

let operator: RunningOperator | undefined;
const gateways: RunningGateway[] = [];
after(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await operator?.stop();
});

interface Fixture {
  cluster: TestCluster;
  namespace: string;
  target: string;
  /** Grants per policy: `spooled` (Spool, GOVERNANCE retention) and `closed` (FailClosed). */
  grants: Record<'spooled' | 'closed', string>;
}

let fixture: Promise<Fixture> | undefined;
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const cluster = await testCluster();
    operator = await startOperator(cluster);
    const admin = await cluster.kubectl();
    const namespace = await cluster.namespace('rec', { keep: true });
    const target = await cluster.namespace('payments', { keep: true });
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'spooled', { recording: { onStoreFailure: 'Spool', retention: { mode: 'Governance', days: 1 } } })) });
    await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'closed', { recording: { onStoreFailure: 'FailClosed' } })) });
    const grants = { spooled: uniqueName('spool-bot'), closed: uniqueName('closed-bot') };
    for (const [policy, grant] of Object.entries(grants)) {
      await admin.ok(['apply', '-f', '-'], {
        input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: `${policy}-bot` }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: policy }, requestedBy: 'kubegate-admin' })),
      });
    }
    await admin.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell' }, spec: { containers: [{ name: 'main', image: 'registry.example/shell:1.0' }] } }) });
    await admin.ok(['wait', '--for=condition=Ready', 'pod/shell', '-n', target, '--timeout=60s']);
    for (const grant of Object.values(grants)) {
      await grantActive(admin, namespace, grant);
    }
    return { cluster, namespace, target, grants };
  })();
  return fixture;
}

/** A gateway for `policy` recording to its own prefix of the sandbox bucket; the reader's view of that prefix. */
async function gatewayFor(policy: 'spooled' | 'closed', options: { spoolDir?: string; prefix?: string; args?: string[] } = {}): Promise<{ gateway: RunningGateway; bot: Kubectl; store: RecordingStore; url: string }> {
  const { cluster, namespace, grants } = await setup();
  const prefix = options.prefix ?? uniqueName(`durability-${policy}`);
  const url = `s3://${cluster.state.s3.bucket}/${prefix}`;
  const gateway = await startGateway(cluster, { namespace, name: policy }, { store: url, env: sandboxS3Env(cluster), spoolDir: options.spoolDir, args: ['--segment-max-age-ms=1000', ...(options.args ?? [])] });
  gateways.push(gateway);
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grants[policy] }, gateway));
  return { gateway, bot, store: openStore(url, { env: sandboxS3Env(cluster) }), url };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Recorded {
  index: SessionIndex;
  keys: string[];
  manifests: SegmentManifest[];
  events: Array<RecordedEvent & Record<string, unknown>>;
}

/** Every session under the store's prefix, found through its index object, read segment by segment. */
async function recordedSessions(store: RecordingStore): Promise<Recorded[]> {
  const sessions: Recorded[] = [];
  for await (const info of store.list('index/')) {
    const index = JSON.parse((await readAll(await store.get(info.key))).toString()) as SessionIndex;
    const keys: string[] = [];
    for await (const object of store.list(index.prefix)) keys.push(object.key);
    const session: Recorded = { index, keys, manifests: [], events: [] };
    for (const key of keys.filter((k) => k.endsWith('.jsonl'))) {
      session.manifests.push(JSON.parse((await readAll(await store.get(key.replace(/\.jsonl$/, '.manifest.json')))).toString()) as SegmentManifest);
      const lines = (await readAll(await store.get(key))).toString().split('\n').filter(Boolean);
      session.events.push(...lines.map((line) => JSON.parse(line) as Recorded['events'][number]));
    }
    sessions.push(session);
  }
  return sessions;
}

/** A whole session: seq from 0 without holes, session-start first, session-end last in the final segment. */
function assertComplete(session: Recorded, options: { gapAllowed?: boolean } = {}): void {
  const id = session.index.sessionId;
  session.events.forEach((event, i) => assert.equal(event.seq, i, `session ${id}: seq ${i} is in place`));
  assert.equal(session.events[0]?.type, 'session-start', `session ${id} starts with session-start`);
  assert.equal(session.events.at(-1)?.type, 'session-end', `session ${id} ends with session-end`);
  assert.equal(session.manifests.at(-1)?.final, true);
  assert.equal(session.manifests.length, session.keys.filter((key) => key.endsWith('.manifest.json')).length);
  if (!options.gapAllowed) assert.ok(!session.events.some((event) => event.type === 'gap'), `session ${id} has no gap`);
}

function streamText(session: Pick<Recorded, 'events'>, channel: string): string {
  return session.events
    .filter((event) => event.type === 'stream' && event.channel === channel)
    .map((event) => Buffer.from(event.data as string, 'base64').toString())
    .join('');
}

/** The events written so far to a spool's segment files (a line being written is left out). */
function spooledEvents(spoolDir: string): Recorded['events'] {
  return readdirSync(spoolDir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /(^|\/)segment-\d{6}\.jsonl$/.test(name))
    .sort()
    .flatMap((name) => readFileSync(join(spoolDir, name), 'utf8').split('\n'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Recorded['events'][number]];
      } catch {
        return [];
      }
    });
}

/** An interactive `kubectl exec -i` whose stdin the test writes, line by line, reading the echo. */
function interactiveExec(bot: Kubectl, target: string): { child: ChildProcess; send(line: string): Promise<void>; output(): string; exited: Promise<number | null> } {
  const child = bot.start(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'while read line; do [ "$line" = bye ] && exit 0; echo "got $line"; done']);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return {
    child,
    output: () => output,
    exited,
    send: async (line) => {
      child.stdin!.write(`${line}\n`);
      await eventually(async () => assert.match(output, new RegExp(`got ${line}\\n`)), 20_000, 50);
    },
  };
}

/** Sealed segments still waiting in a spool for the store. */
function sealedInSpool(spoolDir: string): string[] {
  return readdirSync(spoolDir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.manifest.json') && !name.startsWith('store/'));
}

/** `sessions/YYYY/MM/DD/<subject>/<session-id>/<writer-id>/segment-NNNNNN.…` (format v2, src/recording/FORMAT.md) */
const browsableKey = /^sessions\/\d{4}\/\d{2}\/\d{2}\/[^/]+\/[0-9a-f-]{36}\/[^/]+\/segment-\d{6}\.(jsonl|manifest\.json)$/;

test('(a) API calls and an exec land in MinIO under browsable keys, segments under GOVERNANCE retention', async () => {
  const { cluster, target } = await setup();
  const { gateway, bot, store, url } = await gatewayFor('spooled');
  await eventually(async () => void (await bot.ok(['get', 'pods', '-n', target])), 20_000);
  await bot.ok(['create', 'configmap', 'recorded-a', '-n', target, '--from-literal=colour=blue']);
  const exec = await bot.run(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'read line; echo "got $line"'], { input: 'hello recorder\n' });
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, 'got hello recorder\n');
  // 6 MB of output: segments of up to 8 MiB go up as multipart uploads under object lock
  const bulk = await bot.run(['exec', 'shell', '-n', target, '--', 'sh', '-c', 'yes recording | head -c 6000000'], { timeoutMs: 120_000 });
  assert.equal(bulk.code, 0, bulk.stderr);
  assert.equal(bulk.stdout.length, 6_000_000);
  await gateway.stop(); // drains: every session closed and uploaded

  const sessions = await recordedSessions(store);
  assert.ok(sessions.length >= 3, `${sessions.length} sessions recorded`);
  for (const session of sessions) {
    assertComplete(session);
    assert.equal(session.index.subject.name, 'spooled-bot');
    for (const key of session.keys) assert.match(key, browsableKey);
    assert.ok(session.keys[0]!.startsWith(`sessions/${session.index.startedAt.slice(0, 10).replaceAll('-', '/')}/spooled-bot/${session.index.sessionId}/`));
    for (const key of session.keys) {
      const head = await store.head(key);
      assert.ok(head?.versionId, `${key} is a version of a versioned bucket`);
      assert.equal(head.retention?.mode, 'GOVERNANCE', `${key} is under object-lock retention`);
      assert.ok(Date.parse(head.retention.retainUntil) > Date.now() + 23 * 3600_000);
    }
  }
  const create = sessions.find((session) => session.events.some((event) => event.type === 'request' && String(event.path).includes('/configmaps')));
  assert.ok(create, 'the configmap create is recorded');
  assert.match(String(create.events.find((event) => event.type === 'request' && event.body)?.body), /recorded-a/);
  assert.ok(create.index.verbs.includes('create') && create.index.resources.includes('configmaps') && create.index.namespaces.includes(target));
  const execSession = sessions.find((session) => session.events.some((event) => event.type === 'stream-open' && String(event.command).includes('read line')));
  assert.ok(execSession, 'the exec is recorded');
  assert.deepEqual(execSession.events.find((event) => event.type === 'stream-open')!.command, ['sh', '-c', 'read line; echo "got $line"']);
  assert.equal(streamText(execSession, 'stdin'), 'hello recorder\n');
  assert.equal(streamText(execSession, 'stdout'), 'got hello recorder\n');
  assert.ok(execSession.index.commands.includes('sh -c read line; echo "got $line"'));
  const bulkSession = sessions.find((session) => session.index.commands.includes('sh -c yes recording | head -c 6000000'))!;
  assert.equal(streamText(bulkSession, 'stdout').length, 6_000_000, 'every byte of the output is recorded');
  const sizes = await Promise.all(bulkSession.keys.filter((key) => key.endsWith('.jsonl')).map(async (key) => (await store.head(key))!.size));
  assert.ok(Math.max(...sizes) > 5 * 1024 * 1024, `a segment above one 5 MiB part (sizes ${sizes.join(', ')})`);
  // listing pages through the store: the same keys, in the same order, 7 at a time
  const paged = openStore(url, { env: sandboxS3Env(cluster), listPageSize: 7 });
  const all: string[] = [];
  const pages: string[] = [];
  for await (const info of store.list('sessions/')) all.push(info.key);
  for await (const info of paged.list('sessions/')) pages.push(info.key);
  assert.ok(all.length > 7);
  assert.deepEqual(pages, all);
  assert.deepEqual([...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), all, 'lexical order');
});

test('(b) invariant 7: MinIO stopped for 60 s mid-session: Spool keeps working and loses nothing; FailClosed refuses clearly and forwards nothing unrecorded', async (t) => {
  const { cluster, target, namespace, grants } = await setup();
  const spooled = await gatewayFor('spooled');
  const closed = await gatewayFor('closed');
  await eventually(async () => void (await spooled.bot.ok(['get', 'pods', '-n', target])), 20_000);
  await eventually(async () => void (await closed.bot.ok(['get', 'pods', '-n', target])), 20_000);
  const exec = interactiveExec(spooled.bot, target);
  await exec.send('before');

  const minio = cluster.state.components.find((component) => component.name === 'minio')!;
  const resume = () => {
    try {
      process.kill(minio.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  };
  process.once('exit', resume);
  process.kill(minio.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  let refusal = '';
  try {
    // Spool: kubectl works throughout, the long exec session too
    for (let i = 1; i <= 3; i++) {
      await spooled.bot.ok(['create', 'configmap', `outage-${i}`, '-n', target]);
      await exec.send(`during-${i}`);
    }
    // FailClosed: refused with a clear message once the store counts as down (a probe times out within seconds)
    await eventually(
      async () => {
        const result = await closed.bot.run(['get', 'pods', '-n', target]);
        assert.notEqual(result.code, 0, 'refused while the store is down');
        refusal = result.stderr;
      },
      30_000,
      500,
    );
    t.diagnostic(`FailClosed refusal while the store is down: ${refusal.trim()}`);
    assert.match(refusal, /ServiceUnavailable/);
    assert.match(refusal, /kubegate: the session cannot be recorded, and the policy forbids unrecorded access: .*s3:\/\/kubegate-sessions\/durability-closed/);
    const execRefused = await closed.bot.run(['exec', 'shell', '-n', target, '--', 'echo', 'must not run']);
    assert.notEqual(execRefused.code, 0);
    assert.doesNotMatch(execRefused.stdout, /must not run/);
    const write = await closed.bot.run(['create', 'configmap', 'must-not-exist', '-n', target]);
    assert.notEqual(write.code, 0);
    // the rest of the minute, Spool still serving
    while (Date.now() - stoppedAt < 60_000) {
      await spooled.bot.ok(['get', 'configmaps', '-n', target]);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  } finally {
    resume();
    process.removeListener('exit', resume);
  }
  assert.ok(Date.now() - stoppedAt >= 60_000);
  await exec.send('after');
  exec.child.stdin!.write('bye\n');
  assert.equal(await exec.exited, 0, exec.output());
  await eventually(async () => void (await closed.bot.ok(['get', 'pods', '-n', target])), 30_000, 500);
  const admin = await cluster.kubectl();
  assert.notEqual((await admin.run(['get', 'configmap', 'must-not-exist', '-n', target])).code, 0, 'the refused write never reached the API server');
  // the backlog of the outage drains from both spools (a sealed segment waits as its manifest)
  for (const { gateway } of [spooled, closed]) await eventually(async () => assert.deepEqual(sealedInSpool(gateway.spoolDir), []), 60_000, 500);
  await spooled.gateway.stop();
  await closed.gateway.stop();

  // Spool: every session whole, the exec with every line typed before, during and after the outage
  const spooledSessions = await recordedSessions(spooled.store);
  spooledSessions.forEach((session) => assertComplete(session));
  const execSession = spooledSessions.find((session) => session.events.some((event) => event.type === 'stream-open'))!;
  assert.equal(streamText(execSession, 'stdin'), 'before\nduring-1\nduring-2\nduring-3\nafter\nbye\n');
  assert.equal(streamText(execSession, 'stdout'), 'got before\ngot during-1\ngot during-2\ngot during-3\ngot after\n');
  for (let i = 1; i <= 3; i++) {
    assert.ok(
      spooledSessions.some((session) => session.events.some((event) => event.type === 'request' && String(event.body ?? '').includes(`outage-${i}`))),
      `the create of outage-${i} is recorded`,
    );
  }

  // FailClosed: every request the API server saw from this gateway's subject is recorded in its session
  const closedSessions = await recordedSessions(closed.store);
  closedSessions.forEach((session) => assertComplete(session));
  const recordedPaths = new Map(closedSessions.map((session) => [session.index.sessionId, new Set(session.events.filter((event) => event.type === 'request').map((event) => String(event.path)))]));
  const grantGroup = `kubegate:grant:${namespace}:${grants.closed}`;
  const audit = readFileSync(join(cluster.state.dir, 'logs', 'audit.log'), 'utf8')
    .split('\n')
    .filter((line) => line.includes(grantGroup))
    .map((line) => JSON.parse(line) as { requestURI: string; impersonatedUser?: { username: string; groups?: string[]; extra?: Record<string, string[]> } })
    .filter((entry) => entry.impersonatedUser?.groups?.includes(grantGroup));
  assert.ok(audit.length >= 2, `${audit.length} forwarded requests in the audit log`);
  for (const entry of audit) {
    const sessionId = entry.impersonatedUser!.extra?.['kubegate.dev/session-id']?.[0];
    assert.ok(sessionId && recordedPaths.get(sessionId)?.has(entry.requestURI), `forwarded ${entry.requestURI} (session ${sessionId}) is recorded`);
  }
});

test('(c) the gateway SIGKILLed mid-exec: the restarted gateway uploads the spool and records the gap and the crash', async () => {
  const { target } = await setup();
  const first = await gatewayFor('spooled');
  await eventually(async () => void (await first.bot.ok(['get', 'pods', '-n', target])), 20_000);
  const exec = interactiveExec(first.bot, target);
  await exec.send('line-1');
  // the segment holding line-1's output seals by age (1 s) and is uploaded before the kill
  await eventually(async () => {
    const execSession = (await recordedSessions(first.store)).find((session) => session.events.some((event) => event.type === 'stream-open'));
    assert.match(streamText(execSession ?? { events: [] }, 'stdout'), /got line-1\n/);
  }, 20_000);
  await exec.send('line-2');
  // line-2's output is written to the spool (a SIGKILL cannot take back what the kernel has)
  await eventually(async () => assert.match(streamText({ events: spooledEvents(first.gateway.spoolDir) }, 'stdout'), /got line-2\n/), 20_000, 50);
  await first.gateway.kill();
  await exec.exited;
  // the gateway's one worker spools to worker-0 (README: Gateway)
  const spool = join(first.gateway.spoolDir, 'worker-0');
  assert.ok(readdirSync(spool).length > 0, 'the killed gateway left sessions in its spool');

  const prefix = first.url.slice(first.url.lastIndexOf('/') + 1);
  const second = await gatewayFor('spooled', { spoolDir: first.gateway.spoolDir, prefix });
  let execSession: Recorded | undefined;
  await eventually(
    async () => {
      const sessions = await recordedSessions(second.store);
      execSession = sessions.find((session) => session.events.some((event) => event.type === 'stream-open'));
      assert.ok(execSession?.index.endedAt, 'the exec session is recorded as ended');
    },
    30_000,
    500,
  );
  assertComplete(execSession!, { gapAllowed: true });
  const [gap, end] = execSession!.events.slice(-2);
  assert.equal(gap!.type, 'gap');
  assert.equal(gap!.afterSeq, gap!.seq - 1);
  assert.equal(gap!.reason, `gateway stopped without closing this session; events after seq ${gap!.seq - 1} were not synced`);
  assert.equal(end!.type, 'session-end');
  assert.equal(end!.reason, 'gateway-crash');
  assert.equal(streamText(execSession!, 'stdout'), 'got line-1\ngot line-2\n', 'what was synced before the kill is kept');
  await eventually(async () => assert.deepEqual(readdirSync(spool).filter((name) => existsSync(join(spool, name, 'session.json'))), []), 20_000);
  await second.gateway.stop();
});

test('(d) a session idle for --session-idle-ms ends while the gateway runs: complete in the store, its spool folder gone', async () => {
  const { target } = await setup();
  const { gateway, bot, store } = await gatewayFor('spooled', { args: ['--session-idle-ms=1000'] });
  await eventually(async () => void (await bot.ok(['get', 'pods', '-n', target])), 20_000);
  let sessions: Recorded[] = [];
  await eventually(
    async () => {
      sessions = await recordedSessions(store);
      assert.ok(sessions.length > 0 && sessions.every((session) => session.index.endedAt), 'every session is recorded as ended');
    },
    30_000,
    250,
  );
  for (const session of sessions) {
    assertComplete(session);
    assert.equal(session.events.at(-1)!.reason, 'idle');
  }
  const spool = join(gateway.spoolDir, 'worker-0');
  await eventually(async () => assert.deepEqual(readdirSync(spool).filter((name) => existsSync(join(spool, name, 'session.json'))), []), 20_000);
  await gateway.stop();
});
