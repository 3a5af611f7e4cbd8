/**
 * The v5 evidence in verify (FORMAT.md "Signatures and checkpoints"): manifest signatures against the
 * published keys, and each writer's stored chain against the checkpoint log. The hash chain alone anchors
 * each manifest in the next, so the newest manifest, or a chain recomputed from some point on, rested on
 * object lock; a signature proves the gateway wrote a manifest, and a COMPLIANCE-locked checkpoint proves
 * how far a chain had grown, so a chain that lost its end or was recomputed is named.
 *
 * Which keys are trusted: those published in the store (`keys/`, object-locked by the gateway), or, with
 * `--keys FILE`, exactly the ones the file lists (the cluster's ConfigMap, out of the store administrator's
 * reach). A key the store holds but the file does not is then unknown.
 */
import { buffer } from 'node:stream/consumers';
import { checkpointKeySession, type Checkpoint, type SegmentManifest } from '../recording/format.js';
import { schemaErrors } from '../recording/schemas.js';
import type { RecordingStore } from '../recording/store.js';
import { KeyRing, signedPayload, type PublishedKey } from '../pki/signing.js';
import { dayPrefixes, type TimeRange } from './query.js';

type Problem = (code: string, message: string) => void;

/** What verify reports of a session's signatures and checkpoints. */
export interface SigningSummary {
  /** `signed`: every v5 manifest carries a signature; `unsigned`: none does (recorded before v5, or by a gateway without a key). */
  status: 'signed' | 'unsigned';
  keys: string[];
  /** Checkpoints the log holds of the session, and the newest valid one's time. */
  checkpoints: number;
  lastCheckpoint: string | null;
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;

/** "signed by r-…; 2 checkpoint(s), the last at …", as `sessions verify` prints it and the report shows it. */
export function describeSigning(signing: SigningSummary): string {
  if (signing.status === 'unsigned') return 'unsigned (recorded before format v5 or by a gateway without a key)';
  const checkpoints = signing.checkpoints === 0 ? 'no checkpoint' : `${signing.checkpoints} checkpoint(s), the last at ${signing.lastCheckpoint}`;
  return `signed by ${signing.keys.join(', ') || 'no trusted key'}; ${checkpoints}`;
}

/** The keys `keys/` holds (each read and checked against its schema), or exactly `trusted`. */
export async function loadKeyRing(store: RecordingStore, trusted?: PublishedKey[]): Promise<KeyRing> {
  if (trusted) return new KeyRing(trusted);
  const keys: PublishedKey[] = [];
  for await (const object of store.list('keys/')) {
    try {
      const key = JSON.parse((await buffer(await store.get(object.key))).toString('utf8')) as PublishedKey;
      if (!schemaErrors('key', key)) keys.push(key);
    } catch {
      // an unreadable key object verifies nothing: what it signed is reported as by an unknown key
    }
  }
  return new KeyRing(keys);
}

/** Checks each v5 manifest's signature; a chain is signed in every v5 manifest or in none. */
export function checkSignatures(manifests: { index: number; manifest?: SegmentManifest }[], ring: KeyRing, problem: Problem): { signed: boolean; keys: Set<string> } {
  const keys = new Set<string>();
  const unsigned: number[] = [];
  let signed = 0;
  for (const { index, manifest } of manifests) {
    if (!manifest || manifest.v < 5) continue;
    const signature = manifest.signature;
    if (!signature) {
      unsigned.push(index);
      continue;
    }
    signed++;
    const check = ring.check(signedPayload('segment-manifest', manifest), signature);
    if (check === 'unknown-key') problem('signature-unknown-key', `manifest ${index} is signed by key ${signature.keyId}, which is not among the ${ring.size} trusted key(s): forged`);
    else if (check === 'invalid') problem('signature-invalid', `manifest ${index}'s signature by key ${signature.keyId} does not match its content: rewritten by someone without the key`);
    else keys.add(signature.keyId);
  }
  if (signed > 0 && unsigned.length > 0) problem('signature-missing', `manifest${unsigned.length > 1 ? 's' : ''} ${unsigned.join(', ')} unsigned in a signed chain: rewritten by someone without the key`);
  return { signed: signed > 0, keys };
}

/**
 * The newest checkpoint of each writer in a session's checkpoint folder (keys sort by writer, then
 * segment), when its signature holds; one that does not is named as forged. The newest is enough: the
 * manifest it names pins, through the hash chain, every manifest before it. Also how many the log holds.
 */
export async function readCheckpoints(store: RecordingStore, folder: string, sessionId: string, ring: KeyRing, problem: Problem): Promise<{ latest: Checkpoint[]; listed: number }> {
  const newest = new Map<string, string>();
  let listed = 0;
  for await (const object of store.list(folder)) {
    listed++;
    // `<writer>-<segment>-<time>.json`: the writer is what precedes the last two dashes
    newest.set(object.key.split('-').slice(0, -2).join('-'), object.key);
  }
  const latest: Checkpoint[] = [];
  for (const key of newest.values()) {
    const checkpoint = await readCheckpoint(store, key, sessionId, problem);
    if (!checkpoint) continue;
    const check = ring.check(signedPayload('checkpoint', checkpoint), checkpoint.signature);
    if (check === 'valid') latest.push(checkpoint);
    else problem('checkpoint-invalid', `checkpoint ${key} ${check === 'invalid' ? 'has a signature that does not match its content' : `is signed by key ${checkpoint.signature.keyId}, which is not trusted`}: forged`);
  }
  return { latest, listed };
}

async function readCheckpoint(store: RecordingStore, key: string, sessionId: string, problem: Problem): Promise<Checkpoint | undefined> {
  let checkpoint: Checkpoint | undefined;
  try {
    checkpoint = JSON.parse((await buffer(await store.get(key))).toString('utf8')) as Checkpoint;
  } catch {
    // named below
  }
  const errors = checkpoint === undefined ? 'not JSON' : schemaErrors('checkpoint', checkpoint);
  if (!errors && checkpoint!.sessionId === sessionId && checkpointKeySession(key) === sessionId) return checkpoint;
  problem('checkpoint-invalid', `checkpoint ${key} is malformed${errors ? `: ${errors}` : ` (it names session ${checkpoint!.sessionId})`}`);
  return undefined;
}

/**
 * One writer's stored chain against its newest checkpoint: the segment it names must be there, with the
 * very manifest it names. `manifestSha` gives the stored manifest's sha256 by index (undefined where the
 * manifest is missing: that is named already).
 */
export function checkAgainstCheckpoint(checkpoint: Checkpoint | undefined, stored: number, manifestSha: (index: number) => string | undefined, problem: Problem): void {
  if (!checkpoint) return;
  const { lastIndex, time, final } = checkpoint;
  if (stored <= lastIndex) {
    const what = stored === lastIndex && final ? `the final segment ${lastIndex} was dropped` : `segments ${stored} to ${lastIndex} were removed from the end`;
    problem('truncated', `session truncated: ${what} (the checkpoint of ${time} names segment ${lastIndex}${final ? ' as final' : ''}, the store holds ${stored} segment(s))`);
    return;
  }
  const found = manifestSha(lastIndex);
  if (found !== undefined && found !== checkpoint.lastManifestSha256) {
    problem('checkpoint-mismatch', `manifest ${lastIndex} is not the one the checkpoint of ${time} names (sha256 ${short(found)} ≠ ${short(checkpoint.lastManifestSha256)}): the chain was recomputed`);
  }
}

/** The sessions the checkpoint log of the range's days names (by their start day), with their checkpoint folders. */
export async function* checkpointedSessions(store: RecordingStore, range: TimeRange): AsyncGenerator<{ folder: string; sessionId: string }> {
  for (const day of dayPrefixes('checkpoints', range)) {
    let last = '';
    for await (const object of store.list(day)) {
      const sessionId = checkpointKeySession(object.key);
      const folder = object.key.slice(0, object.key.lastIndexOf('/') + 1);
      if (sessionId === undefined || folder === last) continue;
      last = folder;
      yield { folder, sessionId };
    }
  }
}

/** Writers the checkpoint log names that have no chain in the store. */
export function checkMissingChains(latest: Checkpoint[], writers: (string | undefined)[], problem: Problem): void {
  for (const checkpoint of latest) {
    if (!writers.includes(checkpoint.writer)) problem('chain-missing', `the checkpoint log names writer ${checkpoint.writer} (segment ${checkpoint.lastIndex} at ${checkpoint.time}), whose chain is not in the store`);
  }
}
