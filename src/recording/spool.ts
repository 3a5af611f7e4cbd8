/**
 * The local spool: what a session's recording looks like on the gateway's disk until the store has it.
 *
 *   SPOOL/<session-id>/session.json                   SpoolState: metadata, the hash-chain tip, the index
 *   SPOOL/<session-id>/segment-000003.jsonl           events; the highest one without a manifest is open
 *   SPOOL/<session-id>/segment-000003.manifest.json   written when the segment is sealed
 *   SPOOL/<session-id>/segment-000003.objects.jsonl    (v4) its object index entries, written just before the manifest
 *   SPOOL/<session-id>.<writer-id>/…                   the same, for a joinable chain (store-recorder.ts)
 *
 * `session.json` is written (atomically) when the session opens and after each seal, always after the
 * manifest it refers to, so on restart the chain tip is the newer of the state and the newest manifest
 * still in the spool. Files are deleted only once the store holds them.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './file-store.js';
import type { ChainMetadata, RecordedEvent, SessionIndex } from './format.js';
import type { PendingCall } from './object-index.js';

export interface RecorderLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentLogger: RecorderLogger = { debug() {}, info() {}, warn() {}, error() {} };

export const stateFileName = 'session.json';

export function segmentFileName(index: number): string {
  return `segment-${String(index).padStart(6, '0')}.jsonl`;
}

export function manifestFileName(index: number): string {
  return `segment-${String(index).padStart(6, '0')}.manifest.json`;
}

/** The object index entries of a sealed segment (v4), uploaded with it; absent when it touched no object. */
export function objectsFileName(index: number): string {
  return `segment-${String(index).padStart(6, '0')}.objects.jsonl`;
}

export function parseSpoolFileName(name: string): { index: number; kind: 'segment' | 'manifest' } | undefined {
  const match = /^segment-(\d{6})\.(jsonl|manifest\.json)$/.exec(name);
  return match ? { index: Number(match[1]), kind: match[2] === 'jsonl' ? 'segment' : 'manifest' } : undefined;
}

/** The end of a session's hash chain: what the next sealed segment links to. */
export interface ChainTip {
  /** The index of the next segment to open. */
  nextIndex: number;
  /** The last seq in a sealed segment (-1 before the first seal). */
  lastSeq: number;
  previousSegmentSha256: string | null;
  previousManifestSha256: string | null;
}

/** Where a session's hash chain and index stand after its last seal. */
export interface SpoolState extends ChainTip {
  v: 1;
  metadata: ChainMetadata;
  /**
   * The recording format version the chain is written in (stored since format v3): a gateway that
   * finishes the chain after an upgrade finishes it in this version. Absent: see `chainVersion`.
   */
  formatVersion?: number;
  index: SessionIndex;
  /** (v4 chains) The calls in flight at the last seal: their object index entries go with a later segment. */
  pendingCalls?: PendingCall[];
  /** The final segment is sealed: nothing more will be written. */
  final: boolean;
}

export async function writeSpoolState(dir: string, state: SpoolState): Promise<void> {
  await writeFileAtomic(join(dir, stateFileName), JSON.stringify(state) + '\n', 0o600);
}

export async function readSpoolState(dir: string): Promise<SpoolState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(dir, stateFileName), 'utf8')) as SpoolState;
    return state.v === 1 && state.metadata?.sessionId ? state : undefined;
  } catch {
    return undefined;
  }
}

export interface ScannedSegment {
  /** Bytes of whole, valid lines from the start: anything after is a torn or corrupt tail. */
  validBytes: number;
  totalBytes: number;
  events: number;
  firstSeq: number;
  lastSeq: number;
  firstTime?: string;
  lastType?: string;
  hash: Hash;
}

const maxLineBytes = 256 * 1024 * 1024;

/**
 * Reads a segment file as a stream and keeps the longest prefix of whole lines that parse as events
 * whose seq continues from `expectedFirstSeq` without a hole. `onEvent` sees each kept event.
 */
export async function scanSegment(file: string, expectedFirstSeq: number, onEvent: (event: RecordedEvent) => void = () => {}): Promise<ScannedSegment> {
  const result: ScannedSegment = { validBytes: 0, totalBytes: 0, events: 0, firstSeq: expectedFirstSeq, lastSeq: expectedFirstSeq - 1, hash: createHash('sha256') };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let broken = false;
  const take = (line: Buffer): boolean => {
    let event: RecordedEvent;
    try {
      event = JSON.parse(line.toString('utf8')) as RecordedEvent;
    } catch {
      return false;
    }
    if (typeof event !== 'object' || event === null || event.seq !== result.lastSeq + 1 || typeof event.type !== 'string') return false;
    result.lastSeq = event.seq;
    result.events++;
    result.firstTime ??= event.time;
    result.lastType = event.type;
    result.validBytes += line.length + 1;
    result.hash.update(line).update('\n');
    onEvent(event);
    return true;
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    result.totalBytes += chunk.length;
    if (broken) continue;
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline >= 0; newline = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, newline));
      const line = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      start = newline + 1;
      if (!take(line)) {
        broken = true;
        break;
      }
    }
    if (!broken && start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxLineBytes) broken = true;
    }
  }
  return result;
}
