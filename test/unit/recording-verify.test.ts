/**
 * `sessions verify` against real recordings (written by StoreRecorder into a file:// store), then tampered
 * with the way someone with write access to the bucket could: each change must be found and named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { manifestKey, segmentKey, UnsupportedRecordingVersion, type SegmentManifest, type SessionIndex } from '../../src/recording/format.js';
import { readIndex } from '../../src/audit/query.js';
import { storedSession } from '../../src/audit/reader.js';
import { verifySession, type VerifyReport } from '../../src/audit/verify.js';
import { recordSession, sampleEvents, v1Recording, v2Recording, type RecordedSession } from '../harness/recordings.js';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Verifies the session from its writers' indexes (those still there) and its folder, as `sessions verify` does. */
async function verify(session: RecordedSession): Promise<VerifyReport> {
  const indexes: SessionIndex[] = [];
  for (const chain of session.chains) {
    const index = await readIndex(session.store, chain.indexKey).catch(() => null);
    if (index) indexes.push(index);
  }
  return verifySession(session.store, await storedSession(session.store, session.metadata.sessionId, indexes, [session.folder]));
}

/** Tampering helpers: the store's files, made writable first (a retention request leaves them read-only). */
function file(session: RecordedSession, key: string): string {
  const path = join(session.dir, ...key.split('/'));
  chmodSync(path, 0o644);
  return path;
}
const segmentFile = (session: RecordedSession, i: number) => file(session, segmentKey(session.prefix, i));
const manifestFile = (session: RecordedSession, i: number) => file(session, manifestKey(session.prefix, i));
const readManifest = (session: RecordedSession, i: number) => JSON.parse(readFileSync(manifestFile(session, i), 'utf8')) as SegmentManifest;
function writeManifest(session: RecordedSession, i: number, manifest: SegmentManifest): void {
  writeFileSync(manifestFile(session, i), JSON.stringify(manifest));
}
/** The same session with the helpers above pointed at writer `i`'s chain. */
const chainOf = (session: RecordedSession, i: number): RecordedSession => ({ ...session, prefix: session.chains[i]!.prefix, indexKey: session.chains[i]!.indexKey });
function segmentCount(session: RecordedSession): number {
  return readdirSync(join(session.dir, ...session.prefix.split('/'))).filter((name) => name.endsWith('.jsonl')).length;
}

/** Rewrites segment i's lines and "fixes" its manifest to match, as a careful forger would. */
function forgeSegment(session: RecordedSession, i: number, edit: (lines: string[]) => string[]): void {
  const lines = readFileSync(segmentFile(session, i), 'utf8').split('\n').slice(0, -1);
  const forged = Buffer.from(edit(lines).map((line) => `${line}\n`).join(''));
  writeFileSync(segmentFile(session, i), forged);
  const events = forged.toString('utf8').split('\n').slice(0, -1).map((line) => JSON.parse(line) as { seq: number });
  writeManifest(session, i, { ...readManifest(session, i), sha256: sha256(forged), bytes: forged.length, events: events.length, firstSeq: events[0]!.seq, lastSeq: events.at(-1)!.seq });
}

function assertProblem(report: VerifyReport, pattern: RegExp): void {
  assert.equal(report.status, 'tampered', `expected tampering to be found; report: ${JSON.stringify(report.problems)}`);
  assert.ok(
    report.problems.some((problem) => pattern.test(problem.message)),
    `expected a problem matching ${pattern}; got:\n${report.problems.map((problem) => `  ${problem.message}`).join('\n')}`,
  );
}

test('an untouched recording verifies: every segment, the chain, the counts', async () => {
  const session = await recordSession();
  const segments = segmentCount(session);
  assert.ok(segments >= 4, `the sample should span several segments, got ${segments}`);
  const report = await verify(session);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.equal(report.segments, segments);
  const index = await readIndex(session.store, session.indexKey);
  assert.equal(report.events, index.events);
  assert.ok(report.notes.some((note) => /recorded a gap after seq 3/.test(note)), 'the recorded gap is reported');
});

test('a byte changed in a segment is named with both hashes', async () => {
  const session = await recordSession();
  const path = segmentFile(session, 2);
  const bytes = readFileSync(path);
  const at = bytes.indexOf('api-');
  bytes[at + 4] = bytes[at + 4] === 0x39 ? 0x38 : 0x39;
  writeFileSync(path, bytes);
  const report = await verify(session);
  assertProblem(report, /^segment 2 changed \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}… in its manifest\)$/);
  assert.equal(report.problems.length, 1, `only the change is reported: ${JSON.stringify(report.problems)}`);
});

test('a segment removed from the middle, with or without its manifest', async () => {
  const session = await recordSession();
  rmSync(segmentFile(session, 1));
  assertProblem(await verify(session), /^segment 1 missing \(its manifest is there\)$/);
  rmSync(manifestFile(session, 1));
  const report = await verify(session);
  assertProblem(report, /^segment 1 missing \(both the segment and its manifest\)$/);
  assertProblem(report, /^events seq \d+ to \d+ missing$/);
});

test('the final segment dropped: the index knows how many segments were sealed', async () => {
  const session = await recordSession();
  const last = segmentCount(session) - 1;
  rmSync(segmentFile(session, last));
  rmSync(manifestFile(session, last));
  assertProblem(await verify(session), new RegExp(`^segment ${last} missing \\(the index lists ${last + 1} segments\\)$`));
});

test('the final segment dropped and the index rewritten to match: the index still says the session ended', async () => {
  const session = await recordSession();
  const last = segmentCount(session) - 1;
  rmSync(segmentFile(session, last));
  rmSync(manifestFile(session, last));
  const index = await readIndex(session.store, session.indexKey);
  writeFileSync(file(session, session.indexKey), JSON.stringify({ ...index, segments: last }));
  assertProblem(await verify(session), new RegExp(`^the final segment is missing: the index says the session ended at .*, but the last stored segment \\(${last - 1}\\) is not final$`));
});

test('two segments swapped', async () => {
  const session = await recordSession();
  const [one, two] = [segmentFile(session, 1), segmentFile(session, 2)];
  renameSync(one, `${one}.tmp`);
  renameSync(two, one);
  renameSync(`${one}.tmp`, two);
  const report = await verify(session);
  assertProblem(report, /^segments 1 and 2 swapped$/);
  assert.ok(!report.problems.some((problem) => /changed/.test(problem.message)), 'a swap is not reported as two changes');
});

test('two segments swapped together with their manifests', async () => {
  const session = await recordSession();
  for (const name of [segmentFile, manifestFile]) {
    const [one, two] = [name(session, 1), name(session, 2)];
    renameSync(one, `${one}.tmp`);
    renameSync(two, one);
    renameSync(`${one}.tmp`, two);
  }
  const report = await verify(session);
  assertProblem(report, /^manifest 1 describes segment 2: manifests reordered$/);
  assertProblem(report, /out of order/);
});

test('a segment changed and its manifest rewritten with the new hash: the next manifest still chains to the original', async () => {
  const session = await recordSession();
  forgeSegment(session, 1, (lines) => lines.map((line) => line.replace('"status":200', '"status":404')));
  const report = await verify(session);
  assertProblem(report, /^segment 1 changed and manifest 1 rewritten to match \(manifest 2 chains to segment sha256 [0-9a-f]{12}…, found [0-9a-f]{12}…\)$/);
});

test('a manifest rewritten alone (its segment untouched)', async () => {
  const session = await recordSession();
  writeManifest(session, 1, { ...readManifest(session, 1), sealedAt: new Date(0).toISOString() });
  const report = await verify(session);
  assertProblem(report, /^manifest 1 rewritten \(manifest 2 chains to manifest sha256 [0-9a-f]{12}…, found [0-9a-f]{12}…\)$/);
});

test('a line deleted inside a segment, its manifest "fixed": the missing seq is named', async () => {
  const session = await recordSession();
  let deleted = -1;
  forgeSegment(session, 2, (lines) => {
    deleted = (JSON.parse(lines[1]!) as { seq: number }).seq;
    return lines.filter((_, i) => i !== 1);
  });
  const report = await verify(session);
  assertProblem(report, new RegExp(`^event seq ${deleted} missing$`));
  assertProblem(report, /^segment 2 changed and manifest 2 rewritten to match/);
});

test('a line deleted from the final segment, its manifest "fixed": the seq gap and the index count give it away', async () => {
  const session = await recordSession();
  const last = segmentCount(session) - 1;
  let deleted = -1;
  forgeSegment(session, last, (lines) => {
    deleted = (JSON.parse(lines[0]!) as { seq: number }).seq;
    return lines.slice(1);
  });
  const report = await verify(session);
  assertProblem(report, new RegExp(`^event seq ${deleted} missing$`));
  assertProblem(report, /^the index counts \d+ events, the segments hold \d+$/);
});

test('two lines swapped inside a segment, its manifest "fixed"', async () => {
  const session = await recordSession();
  let moved = -1;
  forgeSegment(session, 1, (lines) => {
    moved = (JSON.parse(lines[1]!) as { seq: number }).seq;
    return [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)];
  });
  const report = await verify(session);
  assertProblem(report, new RegExp(`^event seq ${moved} out of order: found at segment 1 line 3, after seq ${moved + 1}$`));
  assert.ok(!report.problems.some((problem) => /missing/.test(problem.message)), `a reorder is not a loss: ${JSON.stringify(report.problems)}`);
});

test('an extra segment appended after the final one', async () => {
  const session = await recordSession();
  const last = segmentCount(session) - 1;
  const extra = Buffer.from(`${JSON.stringify({ v: 1, seq: 999, time: new Date().toISOString(), type: 'session-end', reason: 'forged' })}\n`);
  const segment = join(session.dir, ...segmentKey(session.prefix, last + 1).split('/'));
  writeFileSync(segment, extra);
  const previous = readManifest(session, last);
  writeFileSync(
    join(session.dir, ...manifestKey(session.prefix, last + 1).split('/')),
    JSON.stringify({ ...previous, index: last + 1, key: segmentKey(session.prefix, last + 1), sha256: sha256(extra), previousSegmentSha256: previous.sha256, previousManifestSha256: sha256(readFileSync(manifestFile(session, last))), bytes: extra.length, events: 1, firstSeq: 999, lastSeq: 999 }),
  );
  const report = await verify(session);
  assertProblem(report, new RegExp(`^segment ${last + 1} appended after the final segment ${last}$`));
  assertProblem(report, /^event seq 999 follows session-end/);
});

test('a line that is not an event is named by segment, line and schema error', async () => {
  const session = await recordSession();
  forgeSegment(session, 1, (lines) => lines.map((line, i) => (i === 0 ? line.replace(/"time":"[^"]*"/, '"time":"yesterday"') : line)));
  assertProblem(await verify(session), /^segment 1 line 1 is not a valid event: \/time must match format "date-time"$/);
});

test('a session still being recorded is reported open, not tampered', async () => {
  const session = await recordSession({ open: true });
  const report = await verify(session);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'open');
  assert.match(report.notes.join('\n'), /session open: \d+ segment\(s\) sealed so far/);
  await session.stop();
  assert.equal((await verify(session)).status, 'intact', 'once closed, the same session verifies as whole');
});

// ---- several writers -------------------------------------------------------------------------------

const twoWriters = () => recordSession({ writers: ['gateway-a', 'gateway-b'] });

test('a session of two writers: each chain verified on its own, the session intact', async () => {
  const session = await twoWriters();
  const report = await verify(session);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.deepEqual(report.writers, ['gateway-a', 'gateway-b']);
  const [a, b] = [chainOf(session, 0), chainOf(session, 1)];
  assert.ok(segmentCount(a) >= 2 && segmentCount(b) >= 2, 'both writers sealed several segments');
  assert.equal(report.segments, segmentCount(a) + segmentCount(b));
  const indexes = [await readIndex(session.store, a.indexKey), await readIndex(session.store, b.indexKey)];
  assert.deepEqual(indexes.map((index) => index.writer), ['gateway-a', 'gateway-b']);
  assert.equal(report.events, indexes[0]!.events + indexes[1]!.events);
});

test('two writers: a segment changed in one is named with its writer', async () => {
  const session = await twoWriters();
  const b = chainOf(session, 1);
  const path = segmentFile(b, 1);
  const bytes = readFileSync(path);
  const at = bytes.indexOf('api-') + 4;
  bytes[at] = bytes[at] === 0x39 ? 0x38 : 0x39;
  writeFileSync(path, bytes);
  const report = await verify(session);
  assertProblem(report, /^writer gateway-b: segment 1 changed \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}… in its manifest\)$/);
  assert.equal(report.problems.length, 1, `only writer b's change: ${JSON.stringify(report.problems)}`);
});

test("two writers: seq runs per writer, so a line deleted from one names that writer's seq", async () => {
  const session = await twoWriters();
  const b = chainOf(session, 1);
  let deleted = -1;
  forgeSegment(b, 1, (lines) => {
    deleted = (JSON.parse(lines[1]!) as { seq: number }).seq;
    return lines.filter((_, i) => i !== 1);
  });
  const report = await verify(session);
  assertProblem(report, new RegExp(`^writer gateway-b: event seq ${deleted} missing$`));
  assert.ok(report.problems.every((problem) => problem.message.startsWith('writer gateway-b: ')), JSON.stringify(report.problems));
});

test("a writer's chain moved under another writer's name: its index misses it, and its manifests and session-start name the writer", async () => {
  const session = await twoWriters();
  const b = chainOf(session, 1);
  const folder = join(session.dir, ...session.folder.split('/'));
  renameSync(join(folder, 'gateway-b'), join(folder, 'gateway-c'));
  const report = await verify(session);
  const last = segmentCount({ ...b, prefix: `${session.folder}gateway-c/` }) - 1;
  assertProblem(report, new RegExp(`^writer gateway-b: segments 0 to ${last} missing \\(the index lists ${last + 1} segments\\)$`));
  assertProblem(report, new RegExp(`^writer gateway-c: no index object for the writer folder ${session.folder}gateway-c/$`));
  assertProblem(report, /^writer gateway-c: manifest 0 belongs to writer gateway-b$/);
  assertProblem(report, /^writer gateway-c: segment 0 line 1 starts the chain of writer gateway-b$/);
  assert.ok(!report.problems.some((problem) => problem.message.startsWith('writer gateway-a')), 'writer a is untouched');
});

// ---- keys and versions -------------------------------------------------------------------------------

test('sessions of subjects named ., .., a/b, %, in unicode or 300 characters long are stored inside their folder and verify', async () => {
  for (const name of ['.', '..', 'a/b', '50%', 'Zoë 🔑', 'x'.repeat(300)]) {
    const session = await recordSession({ subject: { kind: 'User', name }, events: sampleEvents(1) });
    const report = await verify(session);
    assert.deepEqual(report.problems, [], name);
    assert.equal(report.status, 'intact', name);
    const files = readdirSync(session.dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    assert.ok(files.length >= 3, `${name}: ${files.length} objects`);
    for (const entry of files) {
      const key = relative(session.dir, join(entry.parentPath, entry.name)).split(sep).join('/');
      // the per-object index (v4) is filed by object, not by subject
      assert.ok(key.startsWith(session.prefix) || key === session.indexKey || key.startsWith('objects/'), `${name}: ${key} lies outside ${session.prefix}`);
    }
    assert.equal((await readIndex(session.store, session.indexKey)).subject.name, name, 'the index holds the whole name');
  }
});

test('a v1 recording (as the v1 writer made it) still verifies, and a change to it is still found', async () => {
  const v1 = v1Recording();
  const check = async () => verifySession(v1.store, await storedSession(v1.store, v1.sessionId, [await readIndex(v1.store, v1.indexKey)]));
  const report = await check();
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.deepEqual(report.writers, []);
  assert.equal(report.segments, 4);
  const path = join(v1.dir, ...segmentKey(v1.prefix, 1).split('/'));
  writeFileSync(path, readFileSync(path, 'utf8').replace('"status":200', '"status":201'));
  assertProblem(await check(), /^segment 1 changed \(sha256/);
});

test('a v2 recording (as the v2 writer made it) still verifies, and a change to it is still found', async () => {
  const v2 = v2Recording();
  const check = async () => verifySession(v2.store, await storedSession(v2.store, v2.sessionId, [await readIndex(v2.store, v2.indexKey)]));
  const report = await check();
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.equal(report.segments, 6);
  const path = join(v2.dir, ...segmentKey(v2.prefix, 1).split('/'));
  writeFileSync(path, readFileSync(path, 'utf8').replace('"status":200', '"status":201'));
  assertProblem(await check(), /^segment 1 changed \(sha256/);
});

test('a newer format: its index is refused whole; a line newer than its own chain is named', async () => {
  const session = await recordSession();
  const index = await readIndex(session.store, session.indexKey);
  writeFileSync(file(session, session.indexKey), JSON.stringify({ ...index, v: 6 }));
  await assert.rejects(readIndex(session.store, session.indexKey), (error: Error) => error instanceof UnsupportedRecordingVersion && /^index object index\/.* is in recording format v6; this kubegate reads v1 to v5: read it with a newer kubegate$/.test(error.message));
  await assert.rejects(verifySession(session.store, await storedSession(session.store, session.metadata.sessionId, [{ ...index, v: 6 }])), UnsupportedRecordingVersion);
  writeFileSync(file(session, session.indexKey), JSON.stringify(index));
  forgeSegment(session, 1, (lines) => lines.map((line, i) => (i === 0 ? line.replace('"v":5', '"v":6') : line)));
  assertProblem(await verify(session), /^segment 1 line 1 is in recording format v6, newer than this kubegate reads \(v1 to v5\)$/);
});
