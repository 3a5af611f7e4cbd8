/**
 * `StoreRecorder`: the gateway's durable recorder. Sessions are written as bounded segments to a local
 * spool with fsync, sealed into a hash chain of manifests and uploaded to a `RecordingStore`, with an
 * index object per session for search. See `session-writer.ts` (one session), `uploader.ts` (retries and
 * store health), `spool.ts` (the spool's layout) and `crash-recovery.ts` (what `start()` does with a spool
 * a crash left). Every timer and timestamp comes from the `clock` option (real time by default).
 *
 *   const recorder = new StoreRecorder({ store, spoolDir });
 *   await recorder.start();               // recovers and uploads what a previous process left in the spool
 *   const session = recorder.open(metadata);
 *   await session.record(event);          // back-pressure; FailClosed: rejects while nothing can be recorded
 *   await session.close('idle');          // durable in the spool when this resolves
 *   await recorder.flush();               // everything sealed so far is in the store
 *   await recorder.stop();                // closes what is open, uploads what it can in time, keeps the rest
 *
 * What each mode promises:
 *  - `Spool`: `record()` resolves once the line is queued for the spool file (it waits while more than
 *    `highWaterMark` bytes of the session wait to be written); the line is fsynced within
 *    `syncIntervalMs`. The store being down changes nothing but the upload's timing.
 *  - `FailClosed`: `record()` of a `request` or `decision` resolves only once its line is fsynced and the
 *    store is reachable; any event rejects with `RecordingUnavailableError` while the store or the spool
 *    is down (the event is still written to the spool when the spool works). So a caller that waits for
 *    `record()` before forwarding forwards nothing unrecorded.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { realClock, type Clock } from '../runtime/reconciler.js';
import { recoverSpool } from './crash-recovery.js';
import { recorderDefaults, RecordingUnavailableError, type OpenOptions, type Recorder, type SessionRecorder } from './recorder.js';
import { encodeKeySegment } from './key-segment.js';
import { recordingFormatVersion, type SegmentManifest, type SessionMetadata } from './format.js';
import { SessionWriter, type WriterHost } from './session-writer.js';
import { silentLogger, type RecorderLogger } from './spool.js';
import type { RecordingStore } from './store.js';
import { Uploader, UploaderStopped, type UploaderOptions, type UploadJob } from './uploader.js';
import { Evidence, evidenceDefaults, type EvidenceOptions } from './evidence.js';

export { recorderDefaults, RecordingUnavailableError } from './recorder.js';

export type StoreFailureMode = 'Spool' | 'FailClosed';
export interface RetentionSetting {
  mode: 'Governance' | 'Compliance';
  days: number;
}

export interface StoreRecorderOptions {
  store: RecordingStore;
  /** The local spool folder (created if missing). */
  spoolDir: string;
  /** This recorder's writer id: its chain of each session is its own (default: the host name and 6 random hex digits). */
  writerId?: string;
  /** A segment is sealed before it would grow past this (default 8 MiB; one larger event gets a segment of its own). */
  maxSegmentBytes?: number;
  /** …or once its first event is this old (default 10 s). */
  maxSegmentAgeMs?: number;
  /** Object-lock retention for segments and manifests; a function is read at each seal (the policy can change). */
  retention?: RetentionSetting | (() => RetentionSetting | undefined);
  /** Default Spool; a function is read at each `record()`. */
  onStoreFailure?: StoreFailureMode | (() => StoreFailureMode);
  logger?: RecorderLogger;
  /** Group commit: lines are fsynced at least this often (default 150 ms). */
  syncIntervalMs?: number;
  /** Bytes of a session waiting to be written before `record()` pushes back (default 1 MiB). */
  highWaterMark?: number;
  /** How long `stop()` waits for uploads (default 10 s). */
  stopTimeoutMs?: number;
  /** Upload concurrency, backoff and probe intervals. */
  upload?: Omit<UploaderOptions, 'logger' | 'onHealthChange' | 'clock'>;
  /** Sign v5 manifests and write the checkpoint log (evidence.ts); without it manifests are unsigned. */
  evidence?: EvidenceOptions;
  /** Time for event timestamps, sealing by age, group commit, store probes, upload and spool retries (default: real time). */
  clock?: Clock;
}

export class StoreRecorder implements Recorder {
  readonly store: RecordingStore;
  readonly spoolDir: string;
  readonly logger: RecorderLogger;
  readonly maxSegmentBytes: number;
  readonly highWaterMark: number;
  readonly writerId: string;
  private readonly maxSegmentAgeMs: number;
  private readonly stopTimeoutMs: number;
  private readonly writers = new Map<string, SessionWriter>();
  private readonly spoolFailures = new Map<string, Error>();
  private readonly uploader: Uploader;
  private readonly host: WriterHost;
  private readonly stopTickers: Array<() => void>;
  private stopped = false;
  private joinableChains = 0;

  constructor(private readonly options: StoreRecorderOptions) {
    this.store = options.store;
    this.spoolDir = resolve(options.spoolDir);
    this.logger = options.logger ?? silentLogger;
    this.maxSegmentBytes = options.maxSegmentBytes ?? recorderDefaults.maxSegmentBytes;
    this.maxSegmentAgeMs = options.maxSegmentAgeMs ?? recorderDefaults.maxSegmentAgeMs;
    this.highWaterMark = options.highWaterMark ?? recorderDefaults.highWaterMark;
    this.writerId = options.writerId ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.stopTimeoutMs = options.stopTimeoutMs ?? recorderDefaults.stopTimeoutMs;
    const clock = options.clock ?? realClock;
    this.uploader = new Uploader(this.store, { ...options.upload, clock, logger: this.logger });
    const self = this;
    const enqueue = (sessionId: string, job: UploadJob) => void this.uploader.enqueue(sessionId, job).catch((error: unknown) => this.uploadAbandoned(sessionId, job, error));
    const evidence = options.evidence && new Evidence(options.evidence.signer, { store: this.store, logger: this.logger, now: () => clock.now(), retentionDays: () => this.retentionSetting()?.days, enqueue });
    this.host = {
      store: this.store,
      logger: this.logger,
      clock,
      maxSegmentBytes: this.maxSegmentBytes,
      highWaterMark: this.highWaterMark,
      retentionAt: (sealedAt) => this.retentionAt(sealedAt),
      failClosed: () => this.mode() === 'FailClosed',
      unavailable: () => self.unavailable(),
      signed: async (sessionId, manifest) => evidence?.signManifest(sessionId, manifest) ?? manifest,
      tipMoved: (metadata, tip, final, version) => evidence?.tipMoved(metadata, tip, final, version),
      enqueue,
      spoolFailed: (sessionId, error) => (error ? this.spoolFailures.set(sessionId, error) : this.spoolFailures.delete(sessionId)),
      finished: (sessionId) => this.writers.delete(sessionId),
    };
    this.stopTickers = [
      every(clock, options.syncIntervalMs ?? recorderDefaults.syncIntervalMs, () => {
        for (const writer of this.writers.values()) writer.requestSync();
      }),
      every(clock, Math.max(10, Math.min(1000, Math.floor(this.maxSegmentAgeMs / 4))), () => {
        for (const writer of this.writers.values()) writer.sealIfOlder(this.maxSegmentAgeMs, clock.now());
      }),
      ...(evidence ? [every(clock, options.evidence!.checkpointIntervalMs ?? evidenceDefaults.checkpointIntervalMs, () => evidence.tick())] : []),
    ];
  }

  /** Creates the spool, probes the store, and recovers every session a previous process left in the spool. */
  async start(): Promise<void> {
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    await this.uploader.start();
    if (!this.uploader.healthy()) this.logger.warn({ store: this.store.url, error: this.uploader.failure() }, 'recording store unreachable at start; recording to the spool');
    await recoverSpool({
      spoolDir: this.spoolDir,
      logger: this.logger,
      isOpen: (sessionId) => this.writers.has(sessionId),
      writerFor: (metadata, version, folder) => this.register(new SessionWriter(this.host, this.spoolDir, metadata, version, folder)),
      failed: (writer, error) => {
        this.spoolFailures.set(writer.id, error);
        this.writers.delete(writer.id);
      },
    });
  }

  /**
   * A joinable session's chain gets a writer id of its own, this recorder's and a count (`host-abc123.0`),
   * and a spool folder named by both: the session may be opened here again after it idled (its earlier
   * chain perhaps still in the spool or in the store), and neither may be overwritten.
   */
  open(metadata: SessionMetadata, options: OpenOptions = {}): SessionRecorder {
    if (this.stopped) throw new RecordingUnavailableError('the recorder is stopped');
    const writerId = options.joinable ? `${this.writerId}.${(this.joinableChains++).toString(36)}` : this.writerId;
    const folder = options.joinable ? `${metadata.sessionId}.${encodeKeySegment(writerId)}` : metadata.sessionId;
    const writer = this.register(new SessionWriter(this.host, this.spoolDir, { ...metadata, writer: writerId }, recordingFormatVersion, folder));
    writer.begin();
    return { record: (event) => writer.record(event), close: (reason) => writer.close(reason) };
  }

  private register(writer: SessionWriter): SessionWriter {
    this.writers.set(writer.id, writer);
    return writer;
  }

  healthy(): boolean {
    return this.unavailable() === undefined;
  }

  /** Why nothing can be recorded now, or undefined. */
  unavailable(): string | undefined {
    const spool = this.spoolFailures.values().next();
    if (!spool.done) return `the spool ${this.spoolDir} cannot be written: ${spool.value.message}`;
    if (!this.uploader.healthy()) return this.uploader.failure() ?? `${this.store.url} is unreachable`;
    return undefined;
  }

  /** Resolves when everything sealed so far (and every file operation asked for) is in the store. */
  async flush(): Promise<void> {
    await keepingAlive(async () => {
      await Promise.all([...this.writers.values()].map((writer) => writer.idle()));
      await this.uploader.flush();
    });
  }

  /** Closes open sessions, uploads what it can within `stopTimeoutMs`, and leaves the rest in the spool. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.writers.values()].filter((writer) => !writer.isClosed()).map((writer) => writer.close('gateway stopped').catch(() => undefined)));
    await Promise.all([...this.writers.values()].map((writer) => writer.idle()));
    for (const stopTicker of this.stopTickers) stopTicker();
    await keepingAlive(() => this.uploader.stop(this.stopTimeoutMs));
    const left = this.uploader.pending();
    if (left > 0) this.logger.warn({ spool: this.spoolDir, left }, 'recording uploads left in the spool for the next start');
  }

  stats(): { sessions: number; pendingUploads: number; healthy: boolean } {
    return { sessions: this.writers.size, pendingUploads: this.uploader.pending(), healthy: this.healthy() };
  }

  private mode(): StoreFailureMode {
    const mode = this.options.onStoreFailure;
    return (typeof mode === 'function' ? mode() : mode) ?? 'Spool';
  }

  private retentionSetting(): RetentionSetting | undefined {
    return typeof this.options.retention === 'function' ? this.options.retention() : this.options.retention;
  }

  private retentionAt(sealedAt: Date): SegmentManifest['retention'] | undefined {
    const setting = this.retentionSetting();
    if (!setting || !(setting.days > 0)) return undefined;
    return { mode: setting.mode === 'Compliance' ? 'COMPLIANCE' : 'GOVERNANCE', retainUntil: new Date(sealedAt.getTime() + setting.days * 86_400_000).toISOString() };
  }

  private uploadAbandoned(sessionId: string, job: UploadJob, error: unknown): void {
    if (error instanceof UploaderStopped) return;
    this.logger.error({ session: sessionId, key: job.label, err: error }, 'recording upload abandoned');
  }
}

/** Calls `tick` every `ms` on `clock` until the returned function is called. */
function every(clock: Clock, ms: number, tick: () => void): () => void {
  let handle: unknown;
  const arm = () => {
    handle = clock.setTimeout(() => {
      arm();
      tick();
    }, ms);
  };
  arm();
  return () => clock.clearTimeout(handle);
}

/**
 * Runs `work` while holding the process alive: the recorder's timers (retries, the stop timeout) never keep
 * a process alive on their own (the real clock unrefs them), but someone waiting for `work` does.
 */
async function keepingAlive(work: () => Promise<void>): Promise<void> {
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    await work();
  } finally {
    clearInterval(keepAlive);
  }
}
