/**
 * `sessions verify`: proves a stored session is the one the gateway wrote, or says exactly what changed.
 *
 * A session is one hash chain per writer (FORMAT.md), each verified on its own. Every segment is
 * re-hashed while its lines are read (streamed), every manifest is re-hashed, and the chain is walked:
 * manifest i+1 names the hash of segment i and of manifest i. Then the events: `seq` contiguous from 0
 * across the chain's segments, time never going back, `session-start` (naming the chain's writer) first,
 * `session-end` last in the final segment and nothing after it. The manifests' counts must describe their
 * segments, and the object-lock retention in force on each object must be the one its manifest asked for.
 * In a session of several writers each finding is named with its writer.
 *
 * A chain without a final segment is "open" — not tampered — only when its index agrees (endedAt null,
 * no more segments sealed than stored). The chain anchors each manifest in the next one, so the newest
 * manifest, or a chain recomputed from some point on, would rest on the object lock alone; since v5 each
 * manifest is signed and each chain's tip checkpointed (evidence-check.ts), and an unsigned session (before
 * v5, or a gateway without a key) is labelled so; verify reports the lock too. An index newer than
 * this code reads is not judged (`UnsupportedRecordingVersion` is thrown); a newer line or manifest in a
 * chain whose index it reads can only have been edited, and is named.
 */
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { createInterface } from 'node:readline';
import { assertReadableVersion, isNewerVersion, manifestKey, recordingFormatVersion, segmentKey, type RecordedEvent, type SegmentManifest } from '../recording/format.js';
import type { StoredChain, StoredSession } from './reader.js';
import { schemaErrors } from '../recording/schemas.js';
import type { RecordingStore } from '../recording/store.js';
import { checkRetention, type LockSummary } from './object-lock.js';
import { SeqTracker } from './seq-tracker.js';
import { checkAgainstCheckpoint, checkMissingChains, checkSignatures, loadKeyRing, readCheckpoints, type SigningSummary } from './evidence-check.js';
import type { KeyRing } from '../pki/signing.js';
import type { Checkpoint } from '../recording/format.js';

export type VerifyStatus = 'intact' | 'open' | 'tampered';

export interface VerifyProblem {
  /** A stable name for the kind of problem (segment-changed, segment-missing, segments-swapped, …). */
  code: string;
  message: string;
}

export interface VerifyReport {
  sessionId: string;
  /** The folder of the (first) chain. */
  prefix: string;
  /** The writers of the session's chains (empty for a v1 session, whose one chain has no writer id). */
  writers: string[];
  status: VerifyStatus;
  segments: number;
  events: number;
  bytes: number;
  problems: VerifyProblem[];
  /** Recorded facts worth knowing that are not tampering: gaps the gateway recorded, an open session. */
  notes: string[];
  objectLock: LockSummary;
  /** (v5) Signatures and checkpoints. */
  signing: SigningSummary;
}

type ChainReport = Omit<VerifyReport, 'sessionId' | 'prefix' | 'writers' | 'signing'> & { signed: boolean; keys: Set<string> };
type Problem = (code: string, message: string) => void;

/** What one stored segment index turned out to hold. */
interface Slot {
  index: number;
  manifest?: SegmentManifest;
  manifestSha?: string;
  segmentSha?: string;
  bytes: number;
  events: number;
  firstSeq?: number;
  lastSeq?: number;
  lastType?: string;
}

/** Bad lines named per segment before the rest are counted. */
const namedBadLines = 5;

const short = (sha: string | null | undefined) => (sha ? `${sha.slice(0, 12)}…` : 'none');

export interface VerifyOptions {
  /** Fail when an object whose manifest asks for retention holds none, even on a store that cannot lock. */
  requireLock?: boolean;
  /** The trusted public keys (default: those published in the store's `keys/`). */
  keys?: KeyRing;
}

/** A session's checkpoint folder (`checkpoints/YYYY/MM/DD/<session-id>/`) from a folder in it (`sessions/YYYY/MM/DD/<subject>/<session-id>/…`). */
function checkpointFolderOf(sessionFolder: string): string {
  const parts = sessionFolder.split('/');
  return `checkpoints/${parts.slice(1, 4).join('/')}/${parts[5]}/`;
}

export async function verifySession(store: RecordingStore, session: StoredSession, options: VerifyOptions = {}): Promise<VerifyReport> {
  const several = session.chains.length > 1;
  const problems: VerifyProblem[] = session.unexpected.map((object) => ({ code: 'unexpected-object', message: `unexpected object ${object.key} in the session folder` }));
  const notes: string[] = [];
  const objectLock: LockSummary = { requested: 0, locked: 0, modes: [], earliestRetainUntil: null };
  const totals = { segments: 0, events: 0, bytes: 0 };
  let open = false;
  const keys = options.keys ?? (await loadKeyRing(store));
  const folder = session.chains.find((chain) => chain.writer !== undefined)?.prefix;
  const { latest, listed } = folder ? await readCheckpoints(store, checkpointFolderOf(folder), session.sessionId, keys, (code, message) => problems.push({ code, message })) : { latest: [], listed: 0 };
  const signing: SigningSummary = { status: 'unsigned', keys: [], checkpoints: listed, lastCheckpoint: latest.map((checkpoint) => checkpoint.time).sort().at(-1) ?? null };
  for (const chain of session.chains) {
    const report = await verifyChain(store, session.sessionId, chain, { ...options, keys }, latest.find((checkpoint) => checkpoint.writer === chain.writer));
    const named = (message: string) => (several ? `writer ${chain.writer ?? '(none: v1)'}: ${message}` : message);
    problems.push(...report.problems.map((problem) => ({ ...problem, message: named(problem.message) })));
    notes.push(...report.notes.map(named));
    for (const field of ['segments', 'events', 'bytes'] as const) totals[field] += report[field];
    open ||= report.status === 'open';
    addLock(objectLock, report.objectLock);
    if (report.signed) signing.status = 'signed';
    for (const key of report.keys) if (!signing.keys.includes(key)) signing.keys.push(key);
  }
  checkMissingChains(latest, session.chains.map((chain) => chain.writer), (code, message) => problems.push({ code, message }));
  const status: VerifyStatus = problems.length > 0 ? 'tampered' : open ? 'open' : 'intact';
  const writers = session.chains.flatMap((chain) => (chain.writer === undefined ? [] : [chain.writer]));
  return { sessionId: session.sessionId, prefix: session.chains[0]?.prefix ?? '', writers, status, ...totals, problems, notes, objectLock, signing };
}

/**
 * A session the checkpoint log names (`folder`, its checkpoint folder) but the store holds nothing of:
 * tampered, each writer's last checkpoint named; a checkpoint whose signature fails is named as forged.
 */
export async function verifyMissingSession(store: RecordingStore, sessionId: string, folder: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const problem = (code: string, message: string) => problems.push({ code, message });
  const { latest, listed } = await readCheckpoints(store, folder, sessionId, options.keys ?? (await loadKeyRing(store)), problem);
  if (latest.length > 0) problem('session-missing', `the checkpoint log names this session, but the store holds none of it: removed`);
  checkMissingChains(latest, [], problem);
  const writers = latest.map((checkpoint) => checkpoint.writer);
  const signing: SigningSummary = { status: 'signed', keys: [], checkpoints: listed, lastCheckpoint: latest.map((checkpoint) => checkpoint.time).sort().at(-1) ?? null };
  const objectLock: LockSummary = { requested: 0, locked: 0, modes: [], earliestRetainUntil: null };
  return { sessionId, prefix: '', writers, status: 'tampered', segments: 0, events: 0, bytes: 0, problems, notes: [], objectLock, signing };
}

function addLock(sum: LockSummary, chain: LockSummary): void {
  sum.requested += chain.requested;
  sum.locked += chain.locked;
  for (const mode of chain.modes) if (!sum.modes.includes(mode)) sum.modes.push(mode);
  if (chain.earliestRetainUntil && (!sum.earliestRetainUntil || Date.parse(chain.earliestRetainUntil) < Date.parse(sum.earliestRetainUntil))) sum.earliestRetainUntil = chain.earliestRetainUntil;
}

async function verifyChain(store: RecordingStore, sessionId: string, chain: StoredChain, options: VerifyOptions & { keys: KeyRing }, checkpoint: Checkpoint | undefined): Promise<ChainReport> {
  const { prefix, index, objects } = chain;
  const problems: VerifyProblem[] = [];
  const problem: Problem = (code, message) => problems.push({ code, message });
  const notes: string[] = [];
  for (const object of objects.unexpected) problem('unexpected-object', `unexpected object ${object.key} in the session folder`);
  if (index) {
    assertReadableVersion(index.v, `the index of ${prefix}`);
    const indexErrors = schemaErrors('index', index);
    if (indexErrors) problem('index-invalid', `the session index is malformed: ${indexErrors}`);
  } else problem('index-missing', `no index object for the ${chain.writer === undefined ? 'session' : 'writer'} folder ${prefix}`);

  const events = new EventChecks(sessionId, chain.writer, problem, notes);
  const slots: Slot[] = [];
  const last = objects.indexes.at(-1) ?? -1;
  for (let i = 0; i <= last; i++) {
    const slot: Slot = { index: i, bytes: 0, events: 0 };
    slots.push(slot);
    const manifestObject = objects.manifests.get(i);
    if (manifestObject) {
      const bytes = await buffer(await store.get(manifestObject.key));
      slot.manifestSha = sha256(bytes);
      slot.manifest = parseManifest(bytes, i, problem);
    }
    const segmentObject = objects.segments.get(i);
    if (segmentObject) await readSegment(store, segmentObject.key, slot, events);
    if (!segmentObject && !manifestObject) problem('segment-missing', `segment ${i} missing (both the segment and its manifest)`);
    else if (!segmentObject) problem('segment-missing', `segment ${i} missing (its manifest is there)`);
    else if (!manifestObject) problem('manifest-missing', `manifest ${i} missing (its segment is there)`);
  }

  checkSlots(slots, chain, sessionId, problem);
  checkChain(slots, problem);
  const { signed, keys } = checkSignatures(slots, options.keys, problem);
  checkAgainstCheckpoint(checkpoint, slots.length, (i) => slots[i]?.manifestSha, problem);
  const finalIndex = slots.findIndex((slot) => slot.manifest?.final);
  if (finalIndex >= 0) {
    for (const slot of slots.slice(finalIndex + 1)) problem('after-final', `segment ${slot.index} appended after the final segment ${finalIndex}`);
    if (slots[finalIndex]!.lastType !== 'session-end' && slots[finalIndex]!.segmentSha) problem('no-session-end', `the final segment ${finalIndex} does not end with session-end`);
  }
  events.finish();

  let status: VerifyStatus = problems.length > 0 ? 'tampered' : 'intact';
  if (finalIndex < 0) {
    const sealed = slots.length;
    if (index && index.endedAt === null && index.segments <= sealed) {
      if (status === 'intact') status = 'open';
      notes.push(sealed === 0 ? 'session open: no segment sealed yet' : `session open: ${sealed} segment(s) sealed so far, the last at ${slots.at(-1)?.manifest?.sealedAt ?? 'an unknown time'}`);
    } else if (index && index.segments > sealed) {
      status = 'tampered';
      problem('segment-missing', index.segments - sealed === 1 ? `segment ${sealed} missing (the index lists ${index.segments} segments)` : `segments ${sealed} to ${index.segments - 1} missing (the index lists ${index.segments} segments)`);
    } else {
      status = 'tampered';
      problem('final-missing', `the final segment is missing: ${index?.endedAt ? `the index says the session ended at ${index.endedAt}` : 'no index says the session is still open'}, but the last stored segment (${sealed - 1}) is not final`);
    }
  } else if (index && index.events !== events.count && index.endedAt !== null) {
    status = 'tampered';
    problem('index-mismatch', `the index counts ${index.events} events, the segments hold ${events.count}`);
  }

  const objectLock = await checkRetention(store, slots.flatMap((slot) => (slot.manifest?.retention ? [{ index: slot.index, retention: slot.manifest.retention, keys: [segmentKey(prefix, slot.index), manifestKey(prefix, slot.index)] }] : [])), objects, problem, options.requireLock ?? false);
  if (problems.length > 0) status = 'tampered';
  return { status, segments: slots.length, events: events.count, bytes: slots.reduce((sum, slot) => sum + slot.bytes, 0), problems, notes, objectLock, signed, keys };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function parseManifest(bytes: Buffer, i: number, problem: Problem): SegmentManifest | undefined {
  let manifest: unknown;
  try {
    manifest = JSON.parse(bytes.toString('utf8'));
  } catch {
    problem('manifest-invalid', `manifest ${i} is not JSON`);
    return undefined;
  }
  const v = (manifest as { v?: unknown } | null)?.v;
  if (isNewerVersion(v)) {
    problem('manifest-invalid', `manifest ${i} is in recording format v${v}, newer than this kubegate reads (v1 to v${recordingFormatVersion})`);
    return undefined;
  }
  const errors = schemaErrors('manifest', manifest);
  if (errors) problem('manifest-invalid', `manifest ${i} is malformed: ${errors}`);
  return errors ? undefined : (manifest as SegmentManifest);
}

/** Hashes and counts a segment while its events go through the session-wide checks, line by line. */
async function readSegment(store: RecordingStore, key: string, slot: Slot, events: EventChecks): Promise<void> {
  const hash = createHash('sha256');
  const input = await store.get(key);
  input.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    slot.bytes += chunk.length;
  });
  let number = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    number++;
    const event = events.line(slot.index, number, line);
    slot.events++;
    if (!event) continue;
    slot.firstSeq ??= event.seq;
    slot.lastSeq = event.seq;
    slot.lastType = event.type;
  }
  events.endSegment(slot.index);
  slot.segmentSha = hash.digest('hex');
}

/** Each manifest against its place and its segment; content found under another index is named as moved. */
function checkSlots(slots: Slot[], chain: StoredChain, sessionId: string, problem: Problem): void {
  const owner = new Map<string, number>();
  for (const slot of slots) if (slot.manifest) owner.set(slot.manifest.sha256, slot.manifest.index);
  const reported = new Set<number>();
  for (const slot of slots) {
    const { manifest, index } = slot;
    if (!manifest) continue;
    if (manifest.sessionId !== sessionId) problem('manifest-foreign', `manifest ${index} belongs to session ${manifest.sessionId}`);
    if (manifest.writer !== chain.writer) problem('manifest-foreign', `manifest ${index} belongs to ${manifest.writer === undefined ? 'no writer' : `writer ${manifest.writer}`}`);
    if (manifest.index !== index) problem('manifest-moved', `manifest ${index} describes segment ${manifest.index}: manifests reordered`);
    else if (manifest.key !== segmentKey(chain.prefix, index)) problem('manifest-rewritten', `manifest ${index} names another object (${manifest.key})`);
    if (!slot.segmentSha || reported.has(index)) continue;
    if (slot.segmentSha !== manifest.sha256) {
      const holds = owner.get(slot.segmentSha);
      const other = holds === undefined ? undefined : slots[holds];
      if (holds !== undefined && other?.segmentSha === slots[index]!.manifest?.sha256 && holds !== index) {
        problem('segments-swapped', `segments ${Math.min(index, holds)} and ${Math.max(index, holds)} swapped`);
        reported.add(holds);
      } else if (holds !== undefined) problem('segment-moved', `segment ${index} holds the content of segment ${holds}: segments reordered`);
      else problem('segment-changed', `segment ${index} changed (sha256 ${short(slot.segmentSha)} ≠ ${short(manifest.sha256)} in its manifest)`);
      continue;
    }
    const counts: [string, number | undefined, number | undefined][] = [
      ['events', manifest.events, slot.events],
      ['bytes', manifest.bytes, slot.bytes],
      ['firstSeq', manifest.firstSeq, slot.firstSeq],
      ['lastSeq', manifest.lastSeq, slot.lastSeq],
    ];
    const wrong = counts.filter(([, claimed, found]) => found !== undefined && claimed !== found);
    if (wrong.length > 0) problem('manifest-rewritten', `manifest ${index} does not describe its segment: ${wrong.map(([name, claimed, found]) => `${name} ${claimed} ≠ ${found}`).join(', ')}`);
  }
}

/** The hash chain: each manifest names the previous segment's and the previous manifest's sha256. */
function checkChain(slots: Slot[], problem: Problem): void {
  for (const slot of slots) {
    const manifest = slot.manifest;
    if (!manifest || manifest.index !== slot.index) continue;
    if (slot.index === 0) {
      if (manifest.previousSegmentSha256 !== null || manifest.previousManifestSha256 !== null) problem('chain-broken', 'manifest 0 chains to a previous segment: segments were removed before it');
      continue;
    }
    const previous = slots[slot.index - 1]!;
    // a missing or moved predecessor is already reported; the chain adds nothing there
    if (!previous.manifest || !previous.segmentSha || previous.manifest.index !== previous.index) continue;
    const i = previous.index;
    const segmentLinked = manifest.previousSegmentSha256 === previous.segmentSha;
    const manifestLinked = manifest.previousManifestSha256 === previous.manifestSha;
    if (!segmentLinked && previous.segmentSha === previous.manifest.sha256)
      problem('manifest-rewritten', `segment ${i} changed and manifest ${i} rewritten to match (manifest ${slot.index} chains to segment sha256 ${short(manifest.previousSegmentSha256)}, found ${short(previous.segmentSha)})`);
    else if (segmentLinked && !manifestLinked)
      problem('manifest-rewritten', `manifest ${i} rewritten (manifest ${slot.index} chains to manifest sha256 ${short(manifest.previousManifestSha256)}, found ${short(previous.manifestSha)})`);
  }
}

/** The chain-wide event checks: valid lines, seq, time, first and last event. */
class EventChecks {
  count = 0;
  private readonly seq = new SeqTracker();
  private lastTime = -Infinity;
  private ended: number | undefined;
  private badLines = 0;

  constructor(
    private readonly sessionId: string,
    private readonly writer: string | undefined,
    private readonly problem: Problem,
    private readonly notes: string[],
  ) {}

  line(segment: number, number: number, line: string): RecordedEvent | undefined {
    this.count++;
    let event: RecordedEvent;
    try {
      event = JSON.parse(line) as RecordedEvent;
    } catch {
      this.bad(segment, number, 'is not JSON');
      return undefined;
    }
    const v = (event as { v?: unknown } | null)?.v;
    if (isNewerVersion(v)) {
      this.bad(segment, number, `is in recording format v${v}, newer than this kubegate reads (v1 to v${recordingFormatVersion})`);
      return undefined;
    }
    const errors = schemaErrors('event', event);
    if (errors) {
      this.bad(segment, number, `is not a valid event: ${errors}`);
      if (typeof event?.seq !== 'number') return undefined;
    }
    const where = `segment ${segment} line ${number}`;
    if (this.count === 1 && event.type !== 'session-start') this.problem('no-session-start', `the first event is ${event.type}, not session-start (${where})`);
    if (event.type === 'session-start' && event.sessionId !== this.sessionId) this.problem('session-foreign', `${where} starts session ${event.sessionId}`);
    if (event.type === 'session-start' && event.writer !== this.writer) this.problem('session-foreign', `${where} starts the chain of ${event.writer === undefined ? 'no writer' : `writer ${event.writer}`}`);
    if (this.ended !== undefined) this.problem('after-session-end', `event seq ${event.seq} follows session-end (seq ${this.ended}) in ${where}`);
    if (event.type === 'session-end') this.ended = event.seq;
    if (event.type === 'gap') this.notes.push(`the gateway recorded a gap after seq ${event.afterSeq}: ${event.reason}`);
    const inOrder = this.seq.see(event.seq, where, this.problem);
    const time = Date.parse(event.time);
    if (inOrder && time < this.lastTime) this.problem('time-backwards', `${where}: time goes back to ${event.time}`);
    if (inOrder) this.lastTime = Math.max(this.lastTime, time);
    return event;
  }

  endSegment(segment: number): void {
    if (this.badLines > namedBadLines) this.problem('event-invalid', `segment ${segment}: ${this.badLines - namedBadLines} more invalid lines`);
    this.badLines = 0;
  }

  finish(): void {
    this.seq.finish(this.problem);
  }

  private bad(segment: number, number: number, what: string): void {
    if (++this.badLines <= namedBadLines) this.problem('event-invalid', `segment ${segment} line ${number} ${what}`);
  }
}
