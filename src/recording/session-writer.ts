/**
 * One session's recording on its way to the store: events get their envelope and a seq, are appended
 * to the open segment in the spool, fsynced in groups, sealed (by size, age or close) into a manifest
 * that extends the session's hash chain, and handed to the uploader.
 *
 * All file work of a session runs on one promise chain, in the order it was asked for: a segment is
 * opened before it is written, written before it is sealed, and segment k is sealed (and the chain tip
 * moved) before segment k+1. Appending never waits for the disk: lines collect in memory until the
 * chain writes them, and `record()` pushes back once `highWaterMark` bytes wait to be written.
 *
 * When the disk fails, the session stops writing, and every 2 s (up to 30 s apart) it tries to pick up
 * from what the spool holds — the same reading that recovers a crashed session (crash-recovery.ts) — and
 * records a `gap`. Time (event timestamps, sealing, retries) is the recorder's clock.
 */
import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../runtime/reconciler.js';
import { readBack } from './crash-recovery.js';
import { RecordingUnavailableError } from './recorder.js';
import { fsyncDir, writeFileAtomic } from './file-store.js';
import { chainHeader, chainPrefix, segmentKey, type ChainMetadata, type RecordedEvent, type RecordEvent, type SegmentManifest } from './format.js';
import { eventLine, newSegment, type OpenSegment } from './segment-file.js';
import { IndexBuilder } from './session-index.js';
import { objectTracker, type CallTracker } from './object-index.js';
import { manifestFileName, objectsFileName, readSpoolState, segmentFileName, writeSpoolState, type ChainTip, type RecorderLogger, type SpoolState } from './spool.js';
import type { RecordingStore } from './store.js';
import type { UploadJob } from './uploader.js';
import { indexUpload, segmentUpload, spoolCleanup } from './spool-uploads.js';

/** What a session writer needs from its recorder. */
export interface WriterHost {
  readonly store: RecordingStore;
  readonly logger: RecorderLogger;
  readonly maxSegmentBytes: number;
  readonly highWaterMark: number;
  readonly clock: Clock;
  retentionAt(sealedAt: Date): SegmentManifest['retention'] | undefined;
  /** The manifest as written: signed where the recorder holds a key (v5). */
  signed(sessionId: string, manifest: SegmentManifest): Promise<SegmentManifest>;
  /** The chain's tip moved (a segment sealed and queued for upload): for the checkpoint log. */
  tipMoved(metadata: ChainMetadata, tip: ChainTip, final: boolean, version: number): void;
  failClosed(): boolean;
  /** Why nothing can be recorded now (the store or the spool is down); undefined when all is well. */
  unavailable(): string | undefined;
  enqueue(sessionId: string, job: UploadJob): void;
  spoolFailed(sessionId: string, error: Error | undefined): void;
  finished(sessionId: string): void;
}

const syncedEventTypes = new Set(['request', 'decision']);

export class SessionWriter {
  /** Its spool folder's name: the session id, or for a joinable chain the session id and its writer id (store-recorder.ts). */
  readonly id: string;
  readonly dir: string;
  private readonly prefix: string;
  private index: IndexBuilder;
  /** v4 chains: the calls in flight and the object index entries of the open segment. */
  private objects: CallTracker | undefined;
  private seq = 0;
  private current: OpenSegment | undefined;
  private readonly inFlight = new Set<OpenSegment>();
  private nextIndex = 0;
  private tip: ChainTip = { nextIndex: 0, lastSeq: -1, previousSegmentSha256: null, previousManifestSha256: null };
  private final = false;
  private closing: string | undefined;
  private closed: Promise<void> | undefined;
  private io: Promise<void> = Promise.resolve();
  private unwritten = 0;
  private drainWaiters: Array<() => void> = [];
  private failure: { error: Error; retryMs: number } | undefined;

  constructor(
    private readonly host: WriterHost,
    spoolDir: string,
    readonly metadata: ChainMetadata,
    /** The format version of the chain: this version for a new session, the one it began in for one found in the spool. */
    readonly version: number,
    folder = metadata.sessionId,
  ) {
    this.id = folder;
    this.dir = join(spoolDir, folder);
    this.prefix = chainPrefix(metadata);
    this.index = new IndexBuilder(metadata, version);
    this.objects = objectTracker(metadata, version);
  }

  /** A new session: its spool folder and state, then `session-start` as seq 0. */
  begin(): void {
    this.chain(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await fsyncDir(join(this.dir, '..'));
      await writeSpoolState(this.dir, this.state());
      this.host.enqueue(this.id, indexUpload(this.host.store, this.index));
    });
    this.append({ type: 'session-start', ...this.metadata } as unknown as RecordEvent);
  }

  // ---- appending ------------------------------------------------------------------------------

  record(event: RecordEvent): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new Error(`the recording of session ${this.id} is closed`));
    if (this.failure) {
      // the spool cannot be written: the event is lost, and the gap recorded once the spool works again
      return this.host.failClosed() ? Promise.reject(new RecordingUnavailableError(this.host.unavailable() ?? this.failure.error.message)) : Promise.resolve();
    }
    const offset = this.append(event);
    if (this.host.failClosed()) {
      const why = this.host.unavailable();
      if (why) return Promise.reject(new RecordingUnavailableError(why));
      if (syncedEventTypes.has(event.type)) {
        return this.synced(offset).then(() => {
          const after = this.host.unavailable();
          if (after) throw new RecordingUnavailableError(after);
        });
      }
    }
    return this.unwritten < this.host.highWaterMark ? Promise.resolve() : new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Appends one event with the next seq; returns the end offset of its line in the open segment. */
  private append(event: RecordEvent): number {
    const time = new Date(this.host.clock.now()).toISOString();
    const line = eventLine({ v: this.version, seq: this.seq, time }, event);
    let segment = this.current;
    if (segment && segment.events > 0 && segment.bytes + line.length > this.host.maxSegmentBytes) {
      this.seal(false);
      segment = undefined;
    }
    segment ??= this.openSegment(time);
    this.index.observe(event, time);
    this.objects?.observe({ ...event, seq: this.seq, time }, segment.index);
    segment.hash.update(line);
    segment.pending.push(line);
    segment.pendingBytes += line.length;
    segment.bytes += line.length;
    segment.events++;
    segment.lastSeq = this.seq++;
    segment.lastType = event.type;
    this.unwritten += line.length;
    if (!segment.writeQueued) {
      segment.writeQueued = true;
      this.chain(async () => {
        // lines appended in the same turn of the event loop (a request, its decision, other requests'
        // events under load) go to the file in one write, not one write (and one thread-pool trip) each
        await new Promise<void>((resolve) => setImmediate(resolve));
        segment.writeQueued = false;
        await this.write(segment);
      });
    }
    return segment.bytes;
  }

  private openSegment(time: string): OpenSegment {
    const index = this.nextIndex++;
    const segment = newSegment(index, join(this.dir, segmentFileName(index)), this.seq, time);
    this.current = segment;
    this.inFlight.add(segment);
    this.chain(async () => {
      if (segment.handle || !this.inFlight.has(segment)) return; // opened (and maybe sealed) by a salvage or recovery
      segment.handle = await open(segment.path, 'a', 0o600);
      await fsyncDir(this.dir);
    });
    return segment;
  }

  /** Resolves once the bytes up to `offset` of the open segment are on disk. */
  private synced(offset: number): Promise<void> {
    const segment = this.current!;
    if (segment.synced >= offset) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => segment.waiters.push({ offset, resolve, reject }));
    this.requestSync(segment);
    return promise;
  }

  /**
   * Group commit: one fsync covers every line appended before it starts. The fsync runs beside the chain,
   * not on it: writes go on while the disk flushes (an 8 MiB segment's fsync can take tens of ms, and an
   * exec's output waited on it), one fsync at a time per segment; sealing waits for it.
   */
  requestSync(segment = this.current): void {
    if (!segment || segment.syncQueued || segment.synced >= segment.bytes) return;
    segment.syncQueued = true;
    this.chain(async () => {
      segment.syncQueued = false;
      if (!segment.handle || !this.inFlight.has(segment)) return;
      await this.write(segment);
      const [handle, target] = [segment.handle, segment.written];
      segment.syncing = segment.syncing.then(async () => {
        if (this.failure || segment.synced >= target) return;
        try {
          await handle.datasync();
        } catch (error) {
          this.fail(error as Error);
          return;
        }
        segment.synced = Math.max(segment.synced, target);
        segment.waiters = segment.waiters.filter((waiter) => (waiter.offset <= segment.synced ? (waiter.resolve(), false) : true));
      });
    });
  }

  private async write(segment: OpenSegment): Promise<void> {
    if (segment.pending.length === 0 || !segment.handle) return;
    const chunk = segment.pending.length === 1 ? segment.pending[0]! : Buffer.concat(segment.pending);
    segment.pending = [];
    segment.pendingBytes = 0;
    const { bytesWritten } = await segment.handle.write(chunk);
    if (bytesWritten !== chunk.length) throw new Error(`short write to ${segment.path}: ${bytesWritten} of ${chunk.length} bytes`);
    segment.written += chunk.length;
    this.unwritten -= chunk.length;
    if (this.unwritten < this.host.highWaterMark) this.releaseDrain();
  }

  private releaseDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ---- sealing --------------------------------------------------------------------------------

  /** Seals the open segment when it is older than `maxAgeMs` (called by the recorder's ticker). */
  sealIfOlder(maxAgeMs: number, now: number): void {
    if (this.current && this.current.events > 0 && now - this.current.openedAtMs >= maxAgeMs && !this.failure) this.seal(false);
  }

  private seal(final: boolean): Promise<void> {
    const segment = this.current;
    if (!segment) return this.io;
    this.current = undefined;
    return this.chain(async () => {
      await this.write(segment);
      await segment.syncing;
      if (!segment.handle) throw new Error(`segment ${segment.path} was never opened`);
      await segment.handle.datasync();
      segment.synced = segment.written;
      await segment.handle.close();
      segment.handle = undefined;
      await this.sealed(segment, segment.hash.digest('hex'), final);
      this.inFlight.delete(segment);
      for (const waiter of segment.waiters) waiter.resolve();
      segment.waiters = [];
    });
  }

  /** Writes the manifest of a segment whose bytes are on disk, moves the chain tip, and queues the upload. */
  private async sealed(segment: Pick<OpenSegment, 'index' | 'firstSeq' | 'lastSeq' | 'events' | 'bytes' | 'openedAt'>, sha256: string, final: boolean): Promise<void> {
    const sealedAt = new Date(this.host.clock.now());
    const retention = this.host.retentionAt(sealedAt);
    const manifest: SegmentManifest = {
      ...chainHeader(this.metadata, this.version),
      index: segment.index,
      key: segmentKey(this.prefix, segment.index),
      firstSeq: segment.firstSeq,
      lastSeq: segment.lastSeq,
      events: segment.events,
      bytes: segment.bytes,
      sha256,
      previousSegmentSha256: this.tip.previousSegmentSha256,
      previousManifestSha256: this.tip.previousManifestSha256,
      openedAt: segment.openedAt,
      sealedAt: sealedAt.toISOString(),
      final,
      ...(retention ? { retention } : {}),
    };
    const body = Buffer.from(JSON.stringify(await this.host.signed(this.id, manifest)) + '\n');
    // the segment's object index first: a manifest in the spool means everything of its segment is there
    const entries = this.objects?.takeSegment(segment.index, final) ?? [];
    if (entries.length > 0) await writeFileAtomic(join(this.dir, objectsFileName(segment.index)), entries.map((entry) => JSON.stringify(entry)).join('\n') + '\n', 0o600);
    await writeFileAtomic(join(this.dir, manifestFileName(segment.index)), body, 0o600);
    this.tip = { nextIndex: segment.index + 1, lastSeq: segment.lastSeq, previousSegmentSha256: sha256, previousManifestSha256: createHash('sha256').update(body).digest('hex') };
    this.final = final;
    this.index.segments = this.tip.nextIndex;
    this.index.events = this.tip.lastSeq + 1;
    await writeSpoolState(this.dir, this.state());
    this.host.enqueue(this.id, segmentUpload(this.host.store, this.dir, this.prefix, segment.index));
    this.host.enqueue(this.id, indexUpload(this.host.store, this.index));
    this.host.tipMoved(this.metadata, this.tip, final, this.version);
    if (final) this.enqueueCleanup();
  }

  private state(): SpoolState {
    return { v: 1, metadata: this.metadata, formatVersion: this.version, ...this.tip, index: this.index.toJSON(), ...(this.objects ? { pendingCalls: this.objects.inFlightAt(this.tip.lastSeq) } : {}), final: this.final };
  }

  // ---- closing --------------------------------------------------------------------------------

  /** Records `session-end`, seals the final segment, and resolves once it is durable in the spool. */
  close(reason: string): Promise<void> {
    if (this.closed) return this.closed;
    if (this.failure) {
      // finished by the salvage once the spool works again (or by the next start's recovery)
      this.closing = reason;
      this.closed = Promise.resolve();
      return this.closed;
    }
    this.append({ type: 'session-end', reason });
    this.closing = reason;
    this.closed = this.seal(true).then(() => {
      if (this.failure) throw new RecordingUnavailableError(`the spool could not be written: ${this.failure.error.message}`);
    });
    return this.closed;
  }

  isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Resolves when every file operation asked for so far is done. */
  async idle(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.io) {
      seen = this.io;
      await seen;
    }
  }

  // ---- the chain and its failures -------------------------------------------------------------

  private chain(operation: () => Promise<void>): Promise<void> {
    this.io = this.io.then(async () => {
      if (this.failure) return;
      try {
        await operation();
      } catch (error) {
        this.fail(error as Error);
      }
    });
    return this.io;
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.host.logger.error({ session: this.id, err: error }, 'the recording spool cannot be written; events are lost until it can');
    this.failure = { error, retryMs: 2000 };
    this.host.spoolFailed(this.id, error);
    const unavailable = new RecordingUnavailableError(`the spool could not be written: ${error.message}`);
    for (const segment of this.inFlight) {
      for (const waiter of segment.waiters) waiter.reject(unavailable);
      segment.waiters = [];
      void segment.handle?.close().catch(() => undefined);
      segment.handle = undefined;
    }
    this.inFlight.clear();
    this.current = undefined;
    this.unwritten = 0;
    this.releaseDrain();
    this.scheduleSalvage();
  }

  private scheduleSalvage(): void {
    const failure = this.failure!;
    this.host.clock.setTimeout(() => {
      this.io = this.io.then(() => this.salvage());
    }, failure.retryMs);
  }

  /** Picks up from the spool after a disk failure, and records what was lost. */
  private async salvage(): Promise<void> {
    const failure = this.failure!;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (!(await readSpoolState(this.dir))) await writeSpoolState(this.dir, this.state());
      const lastSeq = await this.resume();
      this.failure = undefined;
      this.host.spoolFailed(this.id, undefined);
      this.host.logger.info({ session: this.id, afterSeq: lastSeq }, 'the recording spool works again; the loss is recorded as a gap');
      this.append({ type: 'gap', afterSeq: lastSeq, reason: `the spool could not be written (${failure.error.message}); events after seq ${lastSeq} were lost` });
      if (this.closing !== undefined && !this.final) {
        this.append({ type: 'session-end', reason: this.closing });
        await this.sealNow(true);
      }
    } catch (error) {
      this.failure = { error: failure.error, retryMs: Math.min(failure.retryMs * 2, 30_000) };
      this.host.logger.warn({ session: this.id, err: error }, 'the recording spool still cannot be written');
      this.scheduleSalvage();
    }
  }

  /** Seals the open segment from inside the chain (salvage and recovery). */
  private async sealNow(final: boolean): Promise<void> {
    const segment = this.current;
    if (!segment) return;
    this.current = undefined;
    if (!segment.handle) {
      segment.handle = await open(segment.path, 'a', 0o600);
      await fsyncDir(this.dir);
    }
    segment.writeQueued = true; // written here, not by a queued operation
    await this.write(segment);
    await segment.handle.datasync();
    await segment.handle.close();
    segment.handle = undefined;
    await this.sealed(segment, segment.hash.digest('hex'), final);
    this.inFlight.delete(segment);
  }

  // ---- picking up from the spool (crash recovery and salvage) --------------------------------

  /**
   * Rebuilds this writer from its spool folder (read back by crash-recovery.ts): every sealed segment
   * queued for upload (again: uploads are idempotent), every whole unsealed one sealed. Returns the last
   * seq kept.
   */
  private async resume(): Promise<number> {
    const reading = await readBack(this.dir, this, this.host.logger);
    this.index = reading.index;
    this.objects = reading.objects;
    this.tip = reading.tip;
    this.final = reading.final;
    for (const index of reading.sealed) this.host.enqueue(this.id, segmentUpload(this.host.store, this.dir, this.prefix, index));
    this.seq = this.tip.lastSeq + 1;
    this.nextIndex = this.tip.nextIndex;
    for (const { index, scanned } of reading.unsealed) {
      this.seq = scanned.lastSeq + 1;
      this.nextIndex = index + 1;
      const openedAt = scanned.firstTime ?? new Date(this.host.clock.now()).toISOString();
      await this.sealed({ index, firstSeq: scanned.firstSeq, lastSeq: scanned.lastSeq, events: scanned.events, bytes: scanned.validBytes, openedAt }, scanned.hash.digest('hex'), scanned.lastType === 'session-end');
    }
    if (this.seq === 0) {
      // nothing of the session reached the disk but its state: segment 0 still starts with session-start
      this.append({ type: 'session-start', ...this.metadata } as unknown as RecordEvent);
      await this.sealNow(false);
    }
    this.host.enqueue(this.id, indexUpload(this.host.store, this.index));
    return this.tip.lastSeq;
  }

  /**
   * Finishes the session from what its spool folder holds (a previous process's): everything in it sealed
   * and queued, then, unless the session had already ended, `ending`'s `gap` after the last seq kept and
   * `session-end` in a final segment. Rejects when the spool cannot be read or written.
   */
  finishFromSpool(ending: { reason: string; gap(lastSeq: number): string }): Promise<void> {
    const run = this.io.then(async () => {
      const lastSeq = await this.resume();
      this.closing = ending.reason;
      if (this.final) {
        this.enqueueCleanup();
        return;
      }
      this.append({ type: 'gap', afterSeq: lastSeq, reason: ending.gap(lastSeq) });
      this.append({ type: 'session-end', reason: ending.reason });
      await this.sealNow(true);
    });
    this.io = run.catch(() => undefined);
    this.closed = this.io;
    return run;
  }

  private enqueueCleanup(): void {
    this.host.enqueue(this.id, spoolCleanup(this.dir));
    this.host.finished(this.id);
  }
}
