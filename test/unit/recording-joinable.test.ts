/**
 * Joinable sessions (a kubectl invocation's, whose id every gateway process derives alike): each opening is
 * a chain of its own — a writer id and a spool folder of its own — so a session opened again by one
 * process after it idled, and by another process, is one session of several writers that is found and
 * verified whole; and such a chain left by a crash is recovered from its own folder under its own writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/recording/open-store.js';
import { StoreRecorder } from '../../src/recording/store-recorder.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { resolveSession, timeRange, type FoundSession } from '../../src/audit/query.js';
import { sessionEvents, storedSession } from '../../src/audit/reader.js';
import { verifySession, type VerifyReport } from '../../src/audit/verify.js';
import { sampleEvents, sessionMetadata } from '../harness/recordings.js';
import { KeyRing, keySetSigner, newEvidenceKey, publishedKey } from '../../src/pki/signing.js';

const temp = (name: string) => mkdtempSync(join(tmpdir(), `kubegate-${name}-`));

/** The session as `sessions show` and `sessions verify` find it by its id, and verified. */
async function readBack(store: RecordingStore, sessionId: string, keys?: KeyRing): Promise<{ found: FoundSession; report: VerifyReport; ends: string[] }> {
  const found = await resolveSession(store, sessionId, timeRange({}));
  const stored = await storedSession(store, found.sessionId, found.indexes);
  const ends: string[] = [];
  for await (const event of sessionEvents(store, stored)) if (event.type === 'session-end') ends.push(event.reason);
  return { found, report: await verifySession(store, stored, keys ? { keys } : {}), ends };
}

test('a joinable session opened twice in one process and once in another: one session of three writers, each signed and checkpointed, intact', async () => {
  const store = openStore(`file://${temp('store')}`);
  const key = newEvidenceKey();
  const evidence = { signer: keySetSigner(async () => [key]) };
  const [a, b] = ['gateway-a', 'gateway-b'].map((writerId) => new StoreRecorder({ store, writerId, spoolDir: temp('spool'), maxSegmentBytes: 2048, evidence })) as [StoreRecorder, StoreRecorder];
  await a.start();
  await b.start();
  const metadata = sessionMetadata();
  for (const recorder of [a, a, b]) {
    const chain = recorder.open(metadata, { joinable: true });
    for (const event of sampleEvents(6)) await chain.record(event);
    await chain.close('idle');
  }
  await a.flush();
  await b.flush();
  const { found, report, ends } = await readBack(store, metadata.sessionId, new KeyRing([publishedKey(key)]));
  assert.deepEqual(found.summary.writers, ['gateway-a.0', 'gateway-a.1', 'gateway-b.0']);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.equal(report.signing.status, 'signed');
  assert.equal(report.signing.checkpoints, 3, "each chain's final tip checkpointed, the one process's two chains included");
  assert.deepEqual(ends, ['idle', 'idle', 'idle']);
  await a.stop();
  await b.stop();
});

test('a joinable chain a crash left in the spool is recovered from its own folder, under its own writer', async () => {
  const store = openStore(`file://${temp('store')}`);
  const spoolDir = temp('spool');
  const crashed = new StoreRecorder({ store, writerId: 'gateway-a', spoolDir, maxSegmentAgeMs: 600_000 });
  await crashed.start();
  const metadata = sessionMetadata();
  const chain = crashed.open(metadata, { joinable: true });
  for (const event of sampleEvents(3)) await chain.record(event);
  await crashed.flush(); // every line is in the spool file
  // what a crash leaves: the spool as it is now, for the next process (the crashed recorder is abandoned, never closed)
  const left = temp('spool');
  cpSync(spoolDir, left, { recursive: true });
  assert.deepEqual(readdirSync(left), [`${metadata.sessionId}.gateway-a.0`]);

  const next = new StoreRecorder({ store, writerId: 'gateway-a-replacement', spoolDir: left });
  await next.start();
  await next.flush();
  const { found, report, ends } = await readBack(store, metadata.sessionId);
  assert.deepEqual(found.indexes.map((index) => index.writer), ['gateway-a.0']);
  assert.deepEqual(report.problems, []);
  assert.equal(report.status, 'intact');
  assert.deepEqual(ends, ['gateway-crash']);
  assert.deepEqual(readdirSync(left), [], 'the recovered chain left the spool');
  await next.stop();
});
