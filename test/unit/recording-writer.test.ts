/**
 * The recording writer against the embedded `file://` store in a temp folder: segments sealed by size
 * and age, seq without holes, the hash chain, crash recovery of a torn tail (the writer is a real child
 * process killed with SIGKILL), fail-closed versus spool when the store is down, and back-pressure.
 * Timers (sealing by age, store probes, upload and spool retries) run on a manual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FileStore } from '../../src/recording/file-store.js';
import { openStore, parseStoreUrl } from '../../src/recording/open-store.js';
import { RecordingUnavailableError, StoreRecorder } from '../../src/recording/store-recorder.js';
import { chainPrefix, indexKey, recordingFormatVersion, sessionFolder, sessionPrefix, type ChainMetadata, type RecordedEvent, type SegmentManifest, type SessionIndex, type SessionMetadata } from '../../src/recording/format.js';
import { storedSession } from '../../src/audit/reader.js';
import type { PutOptions, RecordingStore } from '../../src/recording/store.js';
import { readSpoolState, writeSpoolState } from '../../src/recording/spool.js';
import { verifySession } from '../../src/audit/verify.js';
import { IndexBuilder } from '../../src/recording/session-index.js';
import { ManualClock } from '../harness/manual-clock.js';

/** Lets what a fired timer started run, as far as it needs no disk (a probe of a switched-off store). */
const turn = () => new Promise((resolve) => setImmediate(resolve));

function temp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kubegate-${prefix}-`));
}

function metadata(overrides: Partial<SessionMetadata> = {}): SessionMetadata {
  return {
    sessionId: randomUUID(),
    tokenId: 'token-1',
    subject: { kind: 'User', name: 'deploy-bot' },
    grant: { namespace: 'kubegate-system', name: 'deploy-bot-payments', uid: 'uid-1' },
    policy: { namespace: 'kubegate-system', name: 'prod', version: 'abc123' },
    client: { address: '127.0.0.1', userAgent: 'kubectl/v1.35.4', command: 'kubectl get' },
    startedAt: new Date().toISOString(),
    ...overrides,
  };
}

function request(i: number, namespace = 'payments') {
  return {
    type: 'request' as const,
    requestId: `r-${i}`,
    method: 'GET',
    path: `/api/v1/namespaces/${namespace}/pods`,
    attributes: { isResourceRequest: true, verb: 'list', namespace, resource: 'pods', subresource: '', name: '', apiGroup: '', apiVersion: 'v1' },
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface ReadSession {
  segments: Buffer[];
  manifests: Array<{ body: Buffer; manifest: SegmentManifest }>;
  events: RecordedEvent[];
}

/** The session's one chain as stored: the recorder names its writer itself (a chain an older gateway began has none). */
async function storedChain(store: RecordingStore, meta: SessionMetadata): Promise<ChainMetadata> {
  const { chains } = await storedSession(store, meta.sessionId, [], [sessionFolder(meta)]);
  if (chains.length === 0) return meta; // nothing sealed yet: no chain to read
  assert.equal(chains.length, 1, `one writer's chain in ${sessionFolder(meta)}`);
  return { ...meta, ...(chains[0]!.writer === undefined ? {} : { writer: chains[0]!.writer }) };
}

/** Reads one session back from a store the way an auditor would, checking the chain as it goes. */
async function readSession(store: RecordingStore, meta: SessionMetadata): Promise<ReadSession> {
  const prefix = chainPrefix(await storedChain(store, meta));
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  const segmentKeys = keys.filter((key) => key.endsWith('.jsonl'));
  const result: ReadSession = { segments: [], manifests: [], events: [] };
  for (const [i, key] of segmentKeys.entries()) {
    assert.equal(key, `${prefix}segment-${String(i).padStart(6, '0')}.jsonl`);
    const bytes = await readAll(await store.get(key));
    const body = await readAll(await store.get(key.replace(/\.jsonl$/, '.manifest.json')));
    const manifest = JSON.parse(body.toString()) as SegmentManifest;
    assert.equal(manifest.key, key);
    assert.equal(manifest.index, i);
    assert.equal(manifest.sha256, sha256(bytes), `segment ${i}: manifest hash matches the stored bytes`);
    assert.equal(manifest.bytes, bytes.length);
    assert.equal(manifest.previousSegmentSha256, i === 0 ? null : sha256(result.segments[i - 1]!));
    assert.equal(manifest.previousManifestSha256, i === 0 ? null : sha256(result.manifests[i - 1]!.body));
    const events = bytes
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RecordedEvent);
    assert.equal(manifest.events, events.length);
    assert.equal(manifest.firstSeq, events[0]!.seq);
    assert.equal(manifest.lastSeq, events.at(-1)!.seq);
    result.segments.push(bytes);
    result.manifests.push({ body, manifest });
    result.events.push(...events);
  }
  result.events.forEach((event, i) => assert.equal(event.seq, i, 'seq counts from 0 without holes'));
  result.manifests.forEach(({ manifest }, i) => assert.equal(manifest.final, i === result.manifests.length - 1 && result.events.at(-1)?.type === 'session-end'));
  return result;
}

test('file store: atomic puts, lexical listing, bad keys refused', async () => {
  const store = new FileStore(temp('store'));
  await store.put('b/x.json', Buffer.from('1'));
  await store.put('a-b', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
  await store.put('a/z', Buffer.from('zz'), { retention: { mode: 'GOVERNANCE', retainUntil: new Date(Date.now() + 1000) } });
  await store.put('a/y', Buffer.from('y'));
  const keys: string[] = [];
  for await (const info of store.list('')) keys.push(info.key);
  assert.deepEqual(keys, ['a-b', 'a/y', 'a/z', 'b/x.json'], 'S3 order: "a-b" before "a/…"');
  const under: string[] = [];
  for await (const info of store.list('a/')) under.push(info.key);
  assert.deepEqual(under, ['a/y', 'a/z']);
  assert.equal((await readAll(await store.get('a-b'))).toString(), 'hello world');
  assert.deepEqual(await store.head('a/z'), { key: 'a/z', size: 2 });
  assert.equal(await store.head('nothing/here'), null);
  await assert.rejects(store.get('nothing'), /no object "nothing"/);
  for (const bad of ['../escape', '/abs', 'a//b', 'a/./b', '']) await assert.rejects(store.put(bad, Buffer.from('x')), /invalid recording key/);
  assert.deepEqual(readdirSync(store.root).sort(), ['a', 'a-b', 'b'], 'no temp file left behind');
});

test('store URLs: s3 and file parse, anything else is one clear error', () => {
  assert.deepEqual(parseStoreUrl('s3://kubegate-sessions/sandbox'), { kind: 's3', location: 'kubegate-sessions', prefix: 'sandbox/' });
  assert.deepEqual(parseStoreUrl('s3://kubegate-sessions'), { kind: 's3', location: 'kubegate-sessions', prefix: '' });
  assert.equal(parseStoreUrl('file:///var/lib/kubegate').location, '/var/lib/kubegate');
  for (const bad of ['http://bucket/x', 's3://Bad_Bucket/x', 'kubegate-sessions', 'file://', 's3://b']) {
    assert.throws(() => openStore(bad), (error: Error) => error.message.startsWith(`invalid recording store "${bad}"`) && /expected s3:\/\/BUCKET\[\/PREFIX\].*or file:\/\/DIR/.test(error.message));
  }
  const s3 = openStore('s3://kubegate-sessions/a/b', { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' } });
  assert.equal(s3.url, 's3://kubegate-sessions/a/b');
  s3.close();
});

test('segments seal by size; seq has no holes; manifests chain the exact bytes; the index sums the session up', async () => {
  const store = new FileStore(temp('store'));
  const spoolDir = temp('spool');
  const recorder = new StoreRecorder({ store, spoolDir, maxSegmentBytes: 4096, retention: { mode: 'Governance', days: 7 } });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  for (let i = 0; i < 60; i++) {
    await session.record(request(i, i % 2 ? 'payments' : 'web'));
    await session.record({ type: 'decision', requestId: `r-${i}`, action: i === 7 ? 'Deny' : 'Allow', message: 'allowed by rule "x"' });
  }
  await session.record({ type: 'stream-open', requestId: 'exec-1', protocol: 'websocket v5.channel.k8s.io', command: ['sh', '-c', 'kubectl delete pod api-7'] });
  await session.record({ type: 'stream', requestId: 'exec-1', direction: 'server-to-client', channel: 'stdout', data: Buffer.from('x'.repeat(6000)).toString('base64') });
  await session.close('idle');
  await recorder.flush();
  const read = await readSession(store, meta);
  assert.ok(read.segments.length >= 6, `sealed by size into ${read.segments.length} segments`);
  for (const [i, bytes] of read.segments.entries()) {
    const oneBigLine = bytes.toString().split('\n').filter(Boolean).length === 1;
    assert.ok(bytes.length <= 4096 || oneBigLine, `segment ${i} is ${bytes.length} bytes`);
  }
  assert.equal(read.events[0]!.type, 'session-start');
  assert.equal((read.events[0] as unknown as SessionMetadata).sessionId, meta.sessionId);
  assert.equal(read.events.at(-1)!.type, 'session-end');
  assert.equal(read.events.length, 1 + 120 + 2 + 1);
  for (const { manifest } of read.manifests) {
    assert.equal(manifest.retention?.mode, 'GOVERNANCE');
    const days = (Date.parse(manifest.retention!.retainUntil) - Date.parse(manifest.sealedAt)) / 86_400_000;
    assert.equal(Math.round(days), 7);
  }
  const chain = await storedChain(store, meta);
  const index = JSON.parse((await readAll(await store.get(indexKey(chain)))).toString()) as SessionIndex;
  assert.equal(index.prefix, sessionPrefix(chain));
  assert.equal(index.segments, read.segments.length);
  assert.equal(index.events, read.events.length);
  assert.ok(index.endedAt);
  assert.deepEqual(index.namespaces, ['payments', 'web']);
  assert.deepEqual(index.verbs, ['list']);
  assert.deepEqual(index.resources, ['pods']);
  assert.deepEqual(index.decisions, ['Allow', 'Deny']);
  assert.deepEqual(index.commands, ['kubectl get', 'sh -c kubectl delete pod api-7']);
  assert.ok(!existsSync(join(spoolDir, meta.sessionId)), 'the spool is emptied once the store has everything');
  await recorder.stop();
});

test('segments seal by age while the session stays open', { timeout: 30_000 }, async () => {
  const store = new FileStore(temp('store'));
  const clock = new ManualClock();
  const maxSegmentAgeMs = 150;
  const recorder = new StoreRecorder({ store, spoolDir: temp('spool'), maxSegmentAgeMs, clock });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  await session.record(request(1));
  clock.advance(maxSegmentAgeMs - 1);
  await recorder.flush();
  assert.equal((await readSession(store, meta)).segments.length, 0, 'younger than the age: not sealed');
  clock.advance(maxSegmentAgeMs); // past the age and the ticker's next look (every age/4)
  await session.record(request(2));
  clock.advance(maxSegmentAgeMs + 50);
  await recorder.flush();
  const open = await readSession(store, meta);
  assert.equal(open.segments.length, 2, 'two segments sealed by age, the session still open');
  assert.deepEqual(open.events.map((event) => event.type), ['session-start', 'request', 'request']);
  assert.equal(open.manifests.at(-1)!.manifest.final, false);
  await session.close('idle');
  await recorder.flush();
  const closed = await readSession(store, meta);
  assert.equal(closed.segments.length, 3);
  assert.equal(closed.manifests.at(-1)!.manifest.final, true);
  await recorder.stop();
});

/** A store that can be switched off (every call fails, like an unreachable bucket). */
class SwitchableStore implements RecordingStore {
  down = false;
  puts = 0;
  constructor(private readonly inner: RecordingStore) {}
  get url() {
    return this.inner.url;
  }
  private check() {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
  }
  async put(key: string, body: Readable | Buffer, options?: PutOptions) {
    this.check();
    this.puts++;
    return this.inner.put(key, body, options);
  }
  async putFile(key: string, file: string, options?: PutOptions) {
    this.check();
    this.puts++;
    return this.inner.putFile(key, file, options);
  }
  async get(key: string) {
    this.check();
    return this.inner.get(key);
  }
  async head(key: string) {
    this.check();
    return this.inner.head(key);
  }
  list(prefix: string) {
    this.check();
    return this.inner.list(prefix);
  }
  async probe() {
    this.check();
  }
  close() {}
}

test('store down, FailClosed: request and decision are refused with a clear error, nothing is lost once it returns', { timeout: 30_000 }, async () => {
  const files = new FileStore(temp('store'));
  const store = new SwitchableStore(files);
  const spoolDir = temp('spool');
  let mode: 'Spool' | 'FailClosed' = 'FailClosed';
  const clock = new ManualClock();
  const probeIntervalMs = 50;
  const recorder = new StoreRecorder({ store, spoolDir, onStoreFailure: () => mode, maxSegmentAgeMs: 100, clock, upload: { probeIntervalMs, healthyProbeIntervalMs: probeIntervalMs, initialBackoffMs: 20, maxBackoffMs: 100 } });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  await session.record(request(1));
  // resolved only once fsynced: the line is in the spool file right now
  const spooled = readdirSync(join(spoolDir, meta.sessionId)).filter((name) => name.endsWith('.jsonl'));
  const onDisk = spooled.map((name) => readFileSync(join(spoolDir, meta.sessionId, name), 'utf8')).join('');
  assert.match(onDisk, /"requestId":"r-1"/);

  store.down = true;
  assert.ok(recorder.healthy(), 'nothing has noticed yet');
  await clock.advanceSettling(probeIntervalMs, turn);
  assert.ok(!recorder.healthy(), 'the next probe finds the store down');
  await assert.rejects(session.record(request(2)), (error: Error) => error instanceof RecordingUnavailableError && /^recording is unavailable: .*ECONNREFUSED/.test(error.message));
  await assert.rejects(session.record({ type: 'stream', requestId: 'e', direction: 'client-to-server', channel: 'stdin', data: 'bHMK' }), RecordingUnavailableError);
  mode = 'Spool'; // the policy changed: the very next record reads it
  await session.record(request(3));
  mode = 'FailClosed';
  store.down = false;
  await clock.advanceSettling(probeIntervalMs, turn);
  assert.ok(recorder.healthy(), 'the next probe finds it back');
  await session.record(request(4));
  await session.close('idle');
  await recorder.flush();
  const read = await readSession(files, meta);
  // refused events were still written to the spool: the attempt is on record
  assert.deepEqual(
    read.events.filter((event) => event.type === 'request').map((event) => (event as { requestId: string }).requestId),
    ['r-1', 'r-2', 'r-3', 'r-4'],
  );
  await recorder.stop();
});

test('store down, Spool: recording goes on, uploads are retried and arrive whole', { timeout: 30_000 }, async () => {
  const files = new FileStore(temp('store'));
  const store = new SwitchableStore(files);
  const clock = new ManualClock();
  const initialBackoffMs = 20;
  const recorder = new StoreRecorder({ store, spoolDir: temp('spool'), maxSegmentBytes: 2048, clock, upload: { probeIntervalMs: 50, initialBackoffMs, maxBackoffMs: 200 } });
  await recorder.start();
  store.down = true;
  const meta = metadata();
  const session = recorder.open(meta);
  for (let i = 0; i < 40; i++) await session.record(request(i));
  await session.close('idle');
  await waitFor(() => !recorder.healthy());
  assert.ok(recorder.stats().pendingUploads > 0);
  store.down = false;
  clock.advance(initialBackoffMs * 1.2); // the first retry's backoff (±20 %): it succeeds, and the queue drains
  await recorder.flush();
  assert.ok(recorder.healthy());
  const read = await readSession(files, meta);
  assert.equal(read.events.length, 42);
  await recorder.stop();
});

/** Polls a condition that real I/O makes true (a failed upload); timers run on the manual clock instead. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const recorderModule = fileURLToPath(new URL('../../src/recording/store-recorder.js', import.meta.url));
const fileStoreModule = fileURLToPath(new URL('../../src/recording/file-store.js', import.meta.url));

test('a writer killed with SIGKILL: the next start keeps the synced events, drops the torn tail, records the gap and the crash', async () => {
  const storeDir = temp('store');
  const spoolDir = temp('spool');
  const meta = metadata();
  // the writer is a real process: it records, lets some segments upload, and is killed mid-session
  const script = `
    const { StoreRecorder } = await import(${JSON.stringify(recorderModule)});
    const { FileStore } = await import(${JSON.stringify(fileStoreModule)});
    const recorder = new StoreRecorder({ store: new FileStore(${JSON.stringify(storeDir)}), spoolDir: ${JSON.stringify(spoolDir)}, maxSegmentBytes: 2048, maxSegmentAgeMs: 600000 });
    await recorder.start();
    const session = recorder.open(${JSON.stringify(meta)});
    for (let i = 0; i < 30; i++) await session.record(${JSON.stringify(request(0))});
    await recorder.flush(); // every line is written to the spool file: a SIGKILL loses none of them
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`writer exited ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));

  const folder = join(spoolDir, meta.sessionId);
  const open = readdirSync(folder).filter((name) => name.endsWith('.jsonl')).sort().at(-1)!;
  const kept = readFileSync(join(folder, open), 'utf8').split('\n').filter(Boolean);
  const lastKept = (JSON.parse(kept.at(-1)!) as RecordedEvent).seq;
  assert.equal(lastKept, 30);
  appendFileSync(join(folder, open), `{"v":1,"seq":${lastKept + 1},"time":"2026-01-01T00:00:00.000Z","type":"requ`); // torn write

  const store = new FileStore(storeDir);
  const recorder = new StoreRecorder({ store, spoolDir });
  await recorder.start();
  await recorder.flush();
  const read = await readSession(store, meta);
  assert.equal(read.events.length, 31 + 2);
  const [gap, end] = read.events.slice(-2) as Array<RecordedEvent & { afterSeq?: number; reason: string }>;
  assert.equal(gap!.type, 'gap');
  assert.equal(gap!.afterSeq, 30);
  assert.equal(gap!.reason, 'gateway stopped without closing this session; events after seq 30 were not synced');
  assert.equal(end!.type, 'session-end');
  assert.equal(end!.reason, 'gateway-crash');
  assert.equal(read.manifests.at(-1)!.manifest.final, true);
  const index = JSON.parse((await readAll(await store.get(indexKey(await storedChain(store, meta))))).toString()) as SessionIndex;
  assert.equal(index.events, 33);
  assert.ok(index.endedAt);
  assert.ok(!existsSync(folder), 'the recovered session left the spool');
  await recorder.stop();
});

test('a session that crashed before its first event reached the disk still starts with session-start', async () => {
  const storeDir = temp('store');
  const spoolDir = temp('spool');
  const meta = metadata();
  // the spool as a crash right after open leaves it: the state written, segment 0 created, nothing synced
  const folder = join(spoolDir, meta.sessionId);
  await writeSpoolState(folder, { v: 1, metadata: meta, nextIndex: 0, lastSeq: -1, previousSegmentSha256: null, previousManifestSha256: null, index: new IndexBuilder(meta, 1).toJSON(), final: false });
  writeFileSync(join(folder, 'segment-000000.jsonl'), '');
  const recorder = new StoreRecorder({ store: new FileStore(storeDir), spoolDir });
  await recorder.start();
  await recorder.flush();
  const read = await readSession(new FileStore(storeDir), meta);
  assert.deepEqual(read.events.map((event) => event.type), ['session-start', 'gap', 'session-end']);
  assert.equal((read.events[1] as { afterSeq?: number }).afterSeq, 0);
  await recorder.stop();
});

for (const [left, stored, version] of [['a v2 writer (its state names no version)', undefined, 2], ['a v3 writer', 3, 3]] as const) {
  test(`a chain ${left} left in the spool is finished in its own version, whatever this gateway writes`, async () => {
    const storeDir = temp('store');
    const spoolDir = temp('spool');
    const meta: ChainMetadata = { ...metadata(), writer: 'gateway-old' };
    const folder = join(spoolDir, meta.sessionId);
    const index = new IndexBuilder(meta, version).toJSON();
    await writeSpoolState(folder, { v: 1, metadata: meta, ...(stored === undefined ? {} : { formatVersion: stored }), nextIndex: 0, lastSeq: -1, previousSegmentSha256: null, previousManifestSha256: null, index, final: false });
    const lines = [{ type: 'session-start', ...meta }, request(0)].map((event, seq) => JSON.stringify({ v: version, seq, time: new Date().toISOString(), ...event }));
    writeFileSync(join(folder, 'segment-000000.jsonl'), lines.map((line) => `${line}\n`).join(''));
    const store = new FileStore(storeDir);
    const recorder = new StoreRecorder({ store, spoolDir });
    await recorder.start();
    await recorder.flush();
    const read = await readSession(store, meta);
    assert.deepEqual(read.events.map((event) => `${event.type} v${event.v}`), ['session-start', 'request', 'gap', 'session-end'].map((type) => `${type} v${version}`));
    assert.deepEqual([...new Set(read.manifests.map(({ manifest }) => manifest.v))], [version]);
    const written = JSON.parse((await readAll(await store.get(indexKey(meta)))).toString()) as SessionIndex;
    assert.equal(written.v, version);
    const report = await verifySession(store, await storedSession(store, meta.sessionId, [written]));
    assert.deepEqual(report.problems, []);
    assert.equal(report.status, 'intact');
    await recorder.stop();
  });
}

test("a new session's spool state names the version its chain is written in", async () => {
  const spoolDir = temp('spool');
  const recorder = new StoreRecorder({ store: new FileStore(temp('store')), spoolDir });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  await session.record(request(0));
  await recorder.flush();
  assert.equal((await readSpoolState(join(spoolDir, meta.sessionId)))?.formatVersion, recordingFormatVersion);
  await session.close('done');
  await recorder.stop();
});

test('back-pressure: record() waits while the spool falls behind, and memory stays bounded for a large session', async () => {
  const store = new FileStore(temp('store'));
  const recorder = new StoreRecorder({ store, spoolDir: temp('spool'), highWaterMark: 64 * 1024, maxSegmentBytes: 1024 * 1024 });
  await recorder.start();
  const session = recorder.open(metadata());
  const data = Buffer.alloc(12 * 1024, 7).toString('base64');
  const frame = { type: 'stream' as const, requestId: 'exec', direction: 'server-to-client' as const, channel: 'stdout' as const, data };
  // a producer that does not wait sees promises that have not resolved once 64 KiB wait for the disk
  const settled: boolean[] = [];
  const promises = Array.from({ length: 20 }, (_, i) => session.record(frame).then(() => void (settled[i] = true)));
  for (let turn = 0; turn < 5; turn++) await Promise.resolve(); // microtasks only: no disk write can finish meanwhile
  settled.length = promises.length;
  assert.ok(settled.slice(0, 3).every(Boolean), 'below the mark: accepted at once');
  assert.ok(settled.slice(-5).every((done) => done === undefined), 'above the mark: the caller is asked to wait');
  await Promise.all(promises);
  // a producer that waits: 100 MiB through a session; the heap does not grow with it
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  for (let i = 0; i < 6400; i++) {
    await session.record(frame);
    if (i % 200 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  await session.close('done');
  await recorder.flush();
  assert.ok(peak - before < 48 * 1024 * 1024, `heap grew by ${((peak - before) / 1048576).toFixed(1)} MiB while 100 MiB were recorded`);
  await recorder.stop();
});

test('a spool that cannot be written: unhealthy and refusing in FailClosed, then the session goes on with the loss recorded as a gap', { timeout: 30_000 }, async () => {
  const store = new FileStore(temp('store'));
  const spoolDir = temp('spool');
  let mode: 'Spool' | 'FailClosed' = 'Spool';
  const clock = new ManualClock();
  const recorder = new StoreRecorder({ store, spoolDir, maxSegmentBytes: 1024, onStoreFailure: () => mode, clock });
  await recorder.start();
  const meta = metadata();
  const session = recorder.open(meta);
  for (let i = 0; i < 10; i++) await session.record(request(i));
  await recorder.flush();
  // the session's spool folder becomes unusable (a file where the folder was): the next seal fails
  const folder = join(spoolDir, meta.sessionId);
  rmSync(folder, { recursive: true, force: true });
  writeFileSync(folder, 'not a folder');
  for (let i = 10; i < 20 && recorder.healthy(); i++) await session.record(request(i));
  await recorder.flush();
  assert.ok(!recorder.healthy(), 'a failed seal makes the recorder unhealthy');
  mode = 'FailClosed';
  await assert.rejects(session.record(request(99)), (error: Error) => error instanceof RecordingUnavailableError && /spool .* cannot be written/.test(error.message));
  mode = 'Spool';
  await session.record(request(100)); // Spool: accepted, but lost with the rest until the spool works
  rmSync(folder, { force: true });
  clock.advance(1999);
  await recorder.flush();
  assert.ok(!recorder.healthy(), 'the spool is tried again after 2 s');
  clock.advance(1);
  await recorder.flush();
  assert.ok(recorder.healthy(), 'the spool works again');
  await session.record(request(200));
  await session.close('idle');
  await recorder.flush();
  const read = await readSession(store, meta);
  const gap = read.events.find((event) => event.type === 'gap') as (RecordedEvent & { afterSeq: number; reason: string }) | undefined;
  assert.ok(gap, 'the loss is recorded');
  assert.equal(gap.afterSeq, gap.seq - 1);
  assert.match(gap.reason, /^the spool could not be written \(.+\); events after seq \d+ were lost$/);
  assert.equal((read.events.at(-2) as { requestId?: string }).requestId, 'r-200');
  await recorder.stop();
});
