/**
 * Object-lock state of a session's objects: what each manifest asked for (`retention`) against what the
 * store holds in force on the object now (`head(key).retention`).
 *
 * A store that cannot lock at all (`file://`, a bucket created without object lock) holds no retention on
 * any object: that is reported as the lock state, and fails only when the auditor requires a lock. Some
 * objects locked and others not means objects were replaced after they were written: always a failure.
 */
import type { SegmentManifest } from '../recording/format.js';
import type { ChainObjects } from './reader.js';
import type { RecordingStore } from '../recording/store.js';

export interface LockSummary {
  /** Objects whose manifest asked for retention, and how many of them hold at least that. */
  requested: number;
  locked: number;
  /** The modes in force and the earliest retain-until date among locked objects. */
  modes: string[];
  earliestRetainUntil: string | null;
}

export interface RetentionRequest {
  index: number;
  retention: NonNullable<SegmentManifest['retention']>;
  keys: string[];
}

export async function checkRetention(
  store: RecordingStore,
  requests: RetentionRequest[],
  objects: ChainObjects,
  problem: (code: string, message: string) => void,
  requireLock: boolean,
): Promise<LockSummary> {
  const unlocked: string[] = [];
  const summary: LockSummary = { requested: 0, locked: 0, modes: [], earliestRetainUntil: null };
  const present = new Set([...objects.segments.values(), ...objects.manifests.values()].map((object) => object.key));
  for (const { index, retention, keys } of requests) {
    for (const key of keys.filter((candidate) => present.has(candidate))) {
      summary.requested++;
      const what = `${key.endsWith('.jsonl') ? 'segment' : 'manifest'} ${index}`;
      const held = (await store.head(key))?.retention;
      if (!held) {
        unlocked.push(`${what} is not under object lock (its manifest asks for ${retention.mode} until ${retention.retainUntil})`);
        continue;
      }
      if (held.mode !== retention.mode && !(held.mode === 'COMPLIANCE' && retention.mode === 'GOVERNANCE')) problem('lock-weaker', `${what} is under ${held.mode} object lock, its manifest asks for ${retention.mode}`);
      else if (Date.parse(held.retainUntil) < Date.parse(retention.retainUntil)) problem('lock-shortened', `${what} is locked until ${held.retainUntil}, its manifest asks for ${retention.retainUntil}`);
      else summary.locked++;
      if (!summary.modes.includes(held.mode)) summary.modes.push(held.mode);
      if (!summary.earliestRetainUntil || Date.parse(held.retainUntil) < Date.parse(summary.earliestRetainUntil)) summary.earliestRetainUntil = held.retainUntil;
    }
  }
  if (summary.modes.length > 0 || requireLock) for (const message of unlocked) problem('lock-missing', message);
  return summary;
}
