/**
 * Format v5 evidence: manifests signed by the gateway's key, checkpoints of each chain's tip in a separate
 * log, and what `verify` makes of them — on real recordings (StoreRecorder into a file:// store), tampered
 * with the way the store's own administrator could: rewriting, removing and recomputing what they like,
 * without the gateway's key. Checkpoint timing runs on a manual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, sign } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointFolder, checkpointKey, manifestKey, segmentKey, type Checkpoint, type SegmentManifest, type SessionIndex } from '../../src/recording/format.js';
import { KeyRing, keySetSigner, newEvidenceKey, publishedKey, signedPayload, type EvidenceKey, type Signer } from '../../src/pki/signing.js';
import { planRotation } from '../../src/operator/signing-keys.js';
import { desiredRecordingKeysConfigMap, recordingKeyRotation } from '../../src/operator/recording-keys.js';
import { openStore } from '../../src/recording/open-store.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { readIndex } from '../../src/audit/query.js';
import { storedSession } from '../../src/audit/reader.js';
import { verifyMissingSession, verifySession, type VerifyReport } from '../../src/audit/verify.js';
import { recordSession, sampleEvents, sessionMetadata, v2Recording, type RecordedSession } from '../harness/recordings.js';
import { ManualClock } from '../harness/manual-clock.js';
import { writeReport, type ReportSummary } from '../../src/audit/report/report.js';
import type { SessionFilter } from '../../src/audit/query.js';
import type { SessionPolicy } from '../../src/api/index.js';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const day = 24 * 3600 * 1000;

function gatewayKeys(): { keys: EvidenceKey[]; evidence: { signer: Signer } } {
  const keys = [newEvidenceKey()];
  return { keys, evidence: { signer: keySetSigner(async () => keys) } };
}

async function verify(session: RecordedSession, keys?: KeyRing): Promise<VerifyReport> {
  const index = await readIndex(session.store, session.indexKey).catch(() => null);
  return verifySession(session.store, await storedSession(session.store, session.metadata.sessionId, index ? [index] : [], [session.folder]), keys ? { keys } : {});
}

function path(session: RecordedSession, key: string): string {
  const file = join(session.dir, ...key.split('/'));
  chmodSync(file, 0o644);
  return file;
}
const segments = (session: RecordedSession) => readdirSync(join(session.dir, ...session.prefix.split('/'))).filter((name) => name.endsWith('.jsonl')).length;
const readManifest = (session: RecordedSession, i: number) => JSON.parse(readFileSync(path(session, manifestKey(session.prefix, i)), 'utf8')) as SegmentManifest;

/** Removes segments `from`… (segment and manifest) and rewrites the index to say the session is still open with what is left. */
function truncate(session: RecordedSession, from: number): void {
  const count = segments(session);
  for (let i = from; i < count; i++) for (const key of [segmentKey(session.prefix, i), manifestKey(session.prefix, i)]) rmSync(path(session, key));
  const index = JSON.parse(readFileSync(path(session, session.indexKey), 'utf8')) as SessionIndex;
  writeFileSync(path(session, session.indexKey), JSON.stringify({ ...index, endedAt: null, segments: from }));
}

/** Edits segment `from` and recomputes every manifest from it on, hashes and chain; `sign` re-signs each (by default the old signature stays). */
function recomputeChain(session: RecordedSession, from: number, sign: (manifest: SegmentManifest) => SegmentManifest = (manifest) => manifest): void {
  const segmentFile = path(session, segmentKey(session.prefix, from));
  const forged = readFileSync(segmentFile, 'utf8').replace('default action', 'approved by the forger');
  assert.notEqual(forged, readFileSync(segmentFile, 'utf8'));
  writeFileSync(segmentFile, forged);
  let previous = from === 0 ? undefined : { segment: sha256(readFileSync(path(session, segmentKey(session.prefix, from - 1)))), manifest: sha256(readFileSync(path(session, manifestKey(session.prefix, from - 1)))) };
  for (let i = from; i < segments(session); i++) {
    const bytes = readFileSync(path(session, segmentKey(session.prefix, i)));
    const manifest = sign({ ...readManifest(session, i), sha256: sha256(bytes), bytes: bytes.length, ...(previous ? { previousSegmentSha256: previous.segment, previousManifestSha256: previous.manifest } : {}) });
    const body = JSON.stringify(manifest) + '\n';
    writeFileSync(path(session, manifestKey(session.prefix, i)), body);
    previous = { segment: manifest.sha256, manifest: sha256(body) };
  }
}

function assertProblem(report: VerifyReport, code: string, pattern: RegExp): void {
  assert.equal(report.status, 'tampered', JSON.stringify(report.problems));
  assert.ok(report.problems.some((problem) => problem.code === code && pattern.test(problem.message)), `expected ${code} ${pattern}; got:\n${report.problems.map((problem) => `  ${problem.code}: ${problem.message}`).join('\n')}`);
}

async function reportSummary(store: RecordingStore, range = { from: new Date(Date.now() - day), to: new Date() }, filter: SessionFilter = {}): Promise<ReportSummary> {
  return writeReport(store, { filter, range }, { grant: async () => undefined, session: async () => undefined, end: async () => undefined });
}

async function checkpoints(store: RecordingStore): Promise<Checkpoint[]> {
  const found: Checkpoint[] = [];
  for await (const object of store.list('checkpoints/')) found.push(JSON.parse((await buffer(await store.get(object.key))).toString('utf8')) as Checkpoint);
  return found;
}

test('signatures: the newest key signs; a key ring tells valid, rewritten and unknown-key signatures apart; a kind never passes for another', async () => {
  const old = newEvidenceKey(new Date(Date.now() - 40 * day));
  const current = newEvidenceKey();
  const signer = keySetSigner(async () => [old, current]);
  const manifest = { v: 5, sessionId: 's', index: 0 };
  const signature = await signer.sign(signedPayload('segment-manifest', manifest));
  assert.equal(signature.keyId, current.keyId);
  assert.deepEqual(await signer.publicKey(current.keyId), publishedKey(current));
  const ring = new KeyRing([publishedKey(old), publishedKey(current)]);
  assert.equal(ring.check(signedPayload('segment-manifest', { ...manifest, signature }), signature), 'valid', 'the signature field itself is not signed');
  assert.equal(ring.check(signedPayload('segment-manifest', { ...manifest, index: 1 }), signature), 'invalid');
  assert.equal(ring.check(signedPayload('checkpoint', manifest), signature), 'invalid', 'the kind is signed');
  assert.equal(new KeyRing([publishedKey(old)]).check(signedPayload('segment-manifest', manifest), signature), 'unknown-key');
  assert.equal(ring.check(signedPayload('segment-manifest', manifest), { ...signature, value: 'not base64 of a signature' }), 'invalid');
});

test('rotation: one planner for token and recording keys; a recording key rotates after 30 days, its private half goes an hour after its successor, its public half stays published', () => {
  const first = newEvidenceKey(new Date(0));
  assert.deepEqual(planRotation([first], new Date(29 * day), recordingKeyRotation.rotateAfterMs, recordingKeyRotation.keepMs), { keep: [first], rotate: false });
  assert.equal(planRotation([first], new Date(30 * day), recordingKeyRotation.rotateAfterMs, recordingKeyRotation.keepMs).rotate, true);
  const second = newEvidenceKey(new Date(30 * day));
  assert.deepEqual(planRotation([second, first], new Date(30 * day + 30 * 60_000), recordingKeyRotation.rotateAfterMs, recordingKeyRotation.keepMs).keep, [second, first]);
  assert.deepEqual(planRotation([second, first], new Date(30 * day + 2 * 3600_000), recordingKeyRotation.rotateAfterMs, recordingKeyRotation.keepMs).keep, [second]);

  const policy = { metadata: { namespace: 'team', name: 'audited', uid: 'u' }, spec: {} } as unknown as SessionPolicy;
  const before = desiredRecordingKeysConfigMap(policy, undefined, [first]);
  const after = desiredRecordingKeysConfigMap(policy, before, [second]);
  assert.equal(after.metadata!.name, 'kubegate-gateway-audited-recording-keys');
  assert.deepEqual(JSON.parse(after.data!['keys.json']!), [publishedKey(first), publishedKey(second)], 'every public key ever used, oldest first');
  assert.ok(!after.data!['keys.json']!.includes('PRIVATE'), 'no private key in the ConfigMap');
});

test('a signed session verifies intact and signed: its key published in keys/, a final checkpoint naming its last manifest', async () => {
  const { keys, evidence } = gatewayKeys();
  const session = await recordSession({ evidence });
  const report = await verify(session);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.deepEqual(report.signing.keys, [keys[0]!.keyId]);
  assert.equal(report.signing.status, 'signed');
  const count = segments(session);
  assert.ok(count >= 3);
  for (let i = 0; i < count; i++) assert.equal(readManifest(session, i).signature?.keyId, keys[0]!.keyId);
  assert.deepEqual(JSON.parse(readFileSync(path(session, `keys/${keys[0]!.keyId}.json`), 'utf8')), publishedKey(keys[0]!));
  const [final] = await checkpoints(session.store);
  assert.equal(report.signing.checkpoints, 1);
  assert.deepEqual({ ...final!, signature: undefined, time: undefined }, {
    v: 5, sessionId: session.metadata.sessionId, writer: 'gateway-0', startedAt: session.metadata.startedAt, lastIndex: count - 1, final: true,
    lastManifestSha256: sha256(readFileSync(path(session, manifestKey(session.prefix, count - 1)))), signature: undefined, time: undefined,
  });
});

test('sessions recorded before v5 still verify as they did, labelled unsigned; so does a v5 session of a gateway without a key', async () => {
  const v2 = v2Recording();
  const index = await readIndex(v2.store, v2.indexKey);
  const old = await verifySession(v2.store, await storedSession(v2.store, v2.sessionId, [index]));
  assert.equal(old.status, 'intact');
  assert.deepEqual(old.signing, { status: 'unsigned', keys: [], checkpoints: 0, lastCheckpoint: null });
  const keyless = await verify(await recordSession());
  assert.equal(keyless.status, 'intact');
  assert.equal(keyless.signing.status, 'unsigned');
});

test('checkpoints on a manual clock: a moved tip once per interval, an unmoved one not again, a chain that ends at once', async () => {
  const clock = new ManualClock();
  const store = openStore(`file://${mkdtempSync(join(tmpdir(), 'kubegate-store-'))}`);
  const { evidence } = gatewayKeys();
  const recorder = new StoreRecorder({ store, spoolDir: mkdtempSync(join(tmpdir(), 'kubegate-spool-')), maxSegmentAgeMs: 100, clock, evidence: { ...evidence, checkpointIntervalMs: 1000 } });
  await recorder.start();
  const session = recorder.open(sessionMetadata());
  const [request] = sampleEvents(1);
  const step = async (ms: number) => {
    clock.advance(ms);
    await recorder.flush();
  };
  await session.record(request!);
  await step(150); // segment 0 sealed by age
  assert.deepEqual(await checkpoints(store), [], 'not before the interval');
  await step(850);
  assert.deepEqual((await checkpoints(store)).map((checkpoint) => [checkpoint.lastIndex, checkpoint.final]), [[0, false]]);
  await step(3000);
  assert.equal((await checkpoints(store)).length, 1, 'a tip that did not move is not checkpointed again');
  await session.record(request!);
  await step(150); // segment 1
  await session.record(request!);
  await step(150); // segment 2
  assert.equal((await checkpoints(store)).length, 1);
  await step(700);
  assert.deepEqual((await checkpoints(store)).map((checkpoint) => [checkpoint.lastIndex, checkpoint.final]), [[0, false], [2, false]], 'one checkpoint for the two seals of an interval');
  await session.close('done');
  await recorder.flush();
  assert.deepEqual((await checkpoints(store)).map((checkpoint) => [checkpoint.lastIndex, checkpoint.final]), [[0, false], [2, false], [3, true]], 'the end at once, without waiting for the interval');
  await recorder.stop();
});

test('verify names a truncated session, a dropped last segment, a recomputed chain, a forged key, a forged checkpoint and a checkpointed session that is gone', async () => {
  const { keys, evidence } = gatewayKeys();
  const trusted = new KeyRing(keys.map(publishedKey));

  const dropped = await recordSession({ evidence });
  const last = segments(dropped) - 1;
  truncate(dropped, last);
  assertProblem(await verify(dropped), 'truncated', new RegExp(`^session truncated: the final segment ${last} was dropped \\(the checkpoint of \\S+ names segment ${last} as final, the store holds ${last} segment\\(s\\)\\)$`));

  const truncated = await recordSession({ evidence });
  const end = segments(truncated) - 1;
  truncate(truncated, 1);
  assertProblem(await verify(truncated), 'truncated', new RegExp(`^session truncated: segments 1 to ${end} were removed from the end`));

  const recomputed = await recordSession({ evidence });
  recomputeChain(recomputed, 1);
  const report = await verify(recomputed);
  assertProblem(report, 'signature-invalid', /^manifest 1's signature by key r-\S+ does not match its content: rewritten by someone without the key$/);
  assertProblem(report, 'checkpoint-mismatch', /^manifest \d+ is not the one the checkpoint of \S+ names \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}…\): the chain was recomputed$/);
  assert.ok(!report.problems.some((problem) => /segment 1 changed/.test(problem.message)), 'the hash chain itself holds: only the evidence tells');

  const forged = await recordSession({ evidence });
  const forger = newEvidenceKey();
  recomputeChain(forged, 0, (manifest) => ({ ...manifest, signature: { keyId: forger.keyId, algorithm: 'Ed25519', value: sign(null, signedPayload('segment-manifest', manifest), forger.privateKeyPem).toString('base64') } }));
  assertProblem(await verify(forged, trusted), 'signature-unknown-key', /^manifest 0 is signed by key r-\S+, which is not among the 1 trusted key\(s\): forged$/);

  const padded = await recordSession({ evidence });
  const [genuine] = await checkpoints(padded.store);
  const fake = { ...genuine!, lastIndex: genuine!.lastIndex + 1, time: new Date().toISOString() };
  writeFileSync(join(padded.dir, ...checkpointKey(fake).split('/')), JSON.stringify(fake));
  assert.ok(checkpointKey(fake) > checkpointKey(genuine!), 'the forger\'s checkpoint sorts last: the newest');
  assertProblem(await verify(padded), 'checkpoint-invalid', /^checkpoint checkpoints\/\S+ has a signature that does not match its content: forged$/);

  const gone = await recordSession({ evidence });
  rmSync(join(gone.dir, ...gone.folder.split('/')), { recursive: true, force: true });
  rmSync(path(gone, gone.indexKey));
  const missing = await verifyMissingSession(gone.store, gone.metadata.sessionId, checkpointFolder(gone.metadata));
  assert.equal(missing.status, 'tampered');
  assert.deepEqual(missing.problems.map((problem) => problem.code), ['session-missing', 'chain-missing']);
  assert.match(missing.problems[1]!.message, /^the checkpoint log names writer gateway-0 \(segment \d+ at \S+\), whose chain is not in the store$/);
  const { missing: inReport } = await reportSummary(gone.store);
  assert.deepEqual(inReport.map((session) => [session.sessionId, session.problems[0]]), [[gone.metadata.sessionId, 'the checkpoint log names this session, but the store holds none of it: removed']]);
});

test('the report lists a checkpointed session whose index is gone, and leaves out one outside the window (its index is there)', async () => {
  const { evidence } = gatewayKeys();
  const session = await recordSession({ evidence });
  const window = { from: new Date(Date.parse(session.metadata.startedAt) + 1), to: new Date(Date.parse(session.metadata.startedAt) + 60_000) };
  assert.deepEqual((await reportSummary(session.store, window)).missing, [], 'started before the window: not reported, not missing');
  rmSync(path(session, session.indexKey));
  assert.deepEqual((await reportSummary(session.store)).missing, [{ sessionId: session.metadata.sessionId, problems: ['the checkpoint log names this session and the store holds its segments, but no index of it: its index was removed (`kubegate sessions verify --all` verifies what is left)'] }]);
  assert.deepEqual((await reportSummary(session.store, undefined, { subject: 'deploy-bot' })).missing, [], 'a narrowed report looks for none: a checkpoint names no subject');
});
