/**
 * What the recorder does on start with what a crash left in the spool (see `spool.ts` for its layout).
 *
 * A process killed mid-session leaves, per session folder, a state file, sealed segments with their
 * manifests (maybe not yet uploaded, maybe sealed after the state was last written) and the open
 * segment, whose last line may be torn. The next start, for each session:
 *  1. takes the chain tip from the newer of the state and the newest manifest, and queues every sealed
 *     segment for upload again (uploads are idempotent);
 *  2. cuts each unsealed segment after its last whole, in-order line (the torn tail is dropped and the
 *     file fsynced) and seals it; a stray copy of an uploaded segment, or one out of order, is deleted;
 *  3. unless the session had already ended, records a `gap` after the last seq kept and `session-end`
 *     with reason `gateway-crash` in a final segment, which is uploaded and the folder removed.
 * Everything is written in the format version the chain began in (the state's `formatVersion`; an older
 * gateway's state names none: `chainVersion`), whatever version this gateway writes new chains in.
 * A folder without session state holds no event (the state is written before the first segment) and is
 * removed when it holds nothing else. A session that cannot be read or written stays in the spool.
 *
 * Steps 1 and 2 (`readBack`) are also how a session picks up after its spool could not be written.
 */
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { chainVersion, type ChainMetadata, type RecordedEvent, type RecordEvent, type SegmentManifest } from './format.js';
import { objectTracker, type CallTracker } from './object-index.js';
import { IndexBuilder } from './session-index.js';
import type { SessionWriter } from './session-writer.js';
import { manifestFileName, parseSpoolFileName, readSpoolState, scanSegment, segmentFileName, stateFileName, writeSpoolState, type ChainTip, type RecorderLogger, type ScannedSegment } from './spool.js';

/** How a crashed session ends: its lost tail and its end. */
export const crashEnding = {
  reason: 'gateway-crash',
  gap: (lastSeq: number) => `gateway stopped without closing this session; events after seq ${lastSeq} were not synced`,
} as const;

/** What `recoverSpool` needs from the recorder. */
export interface RecoveryHost {
  readonly spoolDir: string;
  readonly logger: RecorderLogger;
  /** A session open in this process: its folder is its own. */
  isOpen(sessionId: string): boolean;
  /** A writer for a session found in the spool (in `folder`), in the version its chain began in, registered with the recorder. */
  writerFor(metadata: ChainMetadata, version: number, folder: string): SessionWriter;
  /** The session could not be recovered: it stays in the spool, and the spool counts as failing. */
  failed(writer: SessionWriter, error: Error): void;
}

/** Finishes every session a previous process left in the spool (steps 1–3 above). */
export async function recoverSpool(host: RecoveryHost): Promise<void> {
  for (const entry of await readdir(host.spoolDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || host.isOpen(entry.name)) continue;
    const dir = join(host.spoolDir, entry.name);
    const state = await readSpoolState(dir);
    if (!state) {
      await dropEmptyFolder(dir, host.logger);
      continue;
    }
    const writer = host.writerFor(state.metadata, chainVersion(state.metadata, state.formatVersion), entry.name);
    try {
      await writer.finishFromSpool(crashEnding);
      host.logger.info({ session: writer.id }, 'recovered a session from the spool');
    } catch (error) {
      host.logger.error({ session: writer.id, err: error }, 'could not recover a session from the spool; it stays there');
      host.failed(writer, error as Error);
    }
  }
}

async function dropEmptyFolder(dir: string, logger: RecorderLogger): Promise<void> {
  const names = await readdir(dir).catch(() => ['?']);
  if (names.every((name) => name.startsWith('.kubegate-tmp-') || name === stateFileName)) {
    await rm(dir, { recursive: true, force: true });
  } else {
    logger.debug({ dir }, 'not a session folder: left alone');
  }
}

/** A session's spool folder read back: where its chain stands and what is left to seal and upload. */
export interface SpoolReading {
  tip: ChainTip;
  final: boolean;
  /** The index, with the events of every segment read. */
  index: IndexBuilder;
  /** (v4) The calls in flight at the last seal, followed through the segments read: unsealed ones' entries are taken at their seal. */
  objects: CallTracker | undefined;
  /** Segments with a manifest, to upload (again). */
  sealed: number[];
  /** Segments without a manifest, in chain order, cut after their last whole line: to seal. */
  unsealed: Array<{ index: number; scanned: ScannedSegment }>;
}

/** Steps 1 and 2: reads a session's folder back, repairing it on the way (torn tails cut, strays deleted). */
export async function readBack(dir: string, chain: { metadata: ChainMetadata; version: number }, logger: RecorderLogger): Promise<SpoolReading> {
  const { metadata, version } = chain;
  const state = await readSpoolState(dir);
  if (!state) throw new Error(`no ${dir}/${stateFileName}`);
  const { nextIndex, lastSeq, previousSegmentSha256, previousManifestSha256 } = state;
  const reading: SpoolReading = { tip: { nextIndex, lastSeq, previousSegmentSha256, previousManifestSha256 }, final: state.final, index: IndexBuilder.from(state.index, metadata, version), objects: objectTracker(metadata, version, state.pendingCalls), sealed: [], unsealed: [] };
  const files = await spoolFiles(dir);
  for (const [index, entry] of files) {
    if (!entry.manifest) continue;
    if (index >= reading.tip.nextIndex) {
      // sealed after the state was last written (a crash between the two): the manifest is the tip
      await adoptManifest(dir, index, entry.segment, reading);
      await writeSpoolState(dir, { ...state, ...reading.tip, index: reading.index.toJSON(), pendingCalls: reading.objects?.inFlightAt(reading.tip.lastSeq), final: reading.final });
    }
    reading.sealed.push(index);
  }
  let [seq, next, final] = [reading.tip.lastSeq + 1, reading.tip.nextIndex, reading.final];
  for (const [index, entry] of files) {
    if (entry.manifest || !entry.segment) continue;
    const file = join(dir, segmentFileName(index));
    if (index < reading.tip.nextIndex) {
      await rm(file, { force: true }); // a stray copy of an uploaded segment
      continue;
    }
    if (final || index !== next) {
      logger.warn({ session: metadata.sessionId, file }, 'a spool segment out of order: dropped');
      await rm(file, { force: true });
      continue;
    }
    const scanned = await keepWholeLines(file, seq, reading, index, logger);
    if (scanned.events === 0) {
      await rm(file, { force: true });
      continue;
    }
    [seq, next, final] = [scanned.lastSeq + 1, index + 1, scanned.lastType === 'session-end'];
    reading.unsealed.push({ index, scanned });
  }
  return reading;
}

/** The segment and manifest files of a folder, by segment index, in order. */
async function spoolFiles(dir: string): Promise<Map<number, { segment?: boolean; manifest?: boolean }>> {
  const files = new Map<number, { segment?: boolean; manifest?: boolean }>();
  for (const name of await readdir(dir)) {
    const parsed = parseSpoolFileName(name);
    if (parsed) files.set(parsed.index, { ...files.get(parsed.index), [parsed.kind]: true });
  }
  return new Map([...files].sort(([a], [b]) => a - b));
}

async function adoptManifest(dir: string, index: number, hasSegment: boolean | undefined, reading: SpoolReading): Promise<void> {
  const body = await readFile(join(dir, manifestFileName(index)));
  const manifest = JSON.parse(body.toString('utf8')) as SegmentManifest;
  if (hasSegment) await scanSegment(join(dir, segmentFileName(index)), manifest.firstSeq, follow(reading, index));
  reading.objects?.takeSegment(index, manifest.final); // its object index was written before its manifest
  reading.tip = { nextIndex: index + 1, lastSeq: manifest.lastSeq, previousSegmentSha256: manifest.sha256, previousManifestSha256: createHash('sha256').update(body).digest('hex') };
  reading.final = manifest.final;
  reading.index.segments = reading.tip.nextIndex;
  reading.index.events = reading.tip.lastSeq + 1;
}

/** What reading one event of segment `segment` back adds: to the index, and to the calls followed. */
function follow(reading: SpoolReading, segment: number): (event: RecordedEvent) => void {
  return (event) => {
    reading.index.observe(event as RecordEvent, event.time);
    reading.objects?.observe(event as RecordEvent & { seq: number; time: string }, segment);
  };
}

/** Scans an unsealed segment from `firstSeq` and cuts it after its last whole, in-order line. */
async function keepWholeLines(file: string, firstSeq: number, reading: SpoolReading, segment: number, logger: RecorderLogger): Promise<ScannedSegment> {
  const { index } = reading;
  const scanned = await scanSegment(file, firstSeq, follow(reading, segment));
  if (scanned.validBytes < scanned.totalBytes) {
    logger.warn({ session: index.metadata.sessionId, file, kept: scanned.validBytes, dropped: scanned.totalBytes - scanned.validBytes }, 'torn tail of a spool segment dropped');
    await truncate(file, scanned.validBytes);
    const handle = await open(file, 'r+');
    await handle.datasync().finally(() => handle.close());
  }
  return scanned;
}
