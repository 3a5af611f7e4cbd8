/**
 * Moves sealed spool files to the store, and keeps the store's health.
 *
 * Guarantees:
 *  - per session, jobs run one at a time in the order they were queued (a segment, then its manifest,
 *    then the next segment…), so the store never holds a manifest whose predecessor is missing for long;
 *    sessions run side by side, at most `maxConcurrent` jobs at once (each streams with bounded memory);
 *  - a failed job is retried forever while the process lives, with exponential backoff (`initialBackoffMs`
 *    doubling to `maxBackoffMs`); a successful probe wakes every waiting retry at once;
 *  - a job that coalesces (the session's index object) supersedes a queued, not yet running job with the
 *    same key, and takes its place at the end of the queue: only the newest index is written, after the
 *    segments it counts;
 *  - `healthy()` is false from a failed upload or probe until a probe or an upload succeeds. The bucket is
 *    probed every `probeIntervalMs` while unhealthy, every `healthyProbeIntervalMs` otherwise, so a store
 *    that went away is noticed even when nothing is being uploaded.
 */
import { realClock, sleep, type Clock } from '../runtime/reconciler.js';
import type { RecordingStore } from './store.js';
import type { RecorderLogger } from './spool.js';

export interface UploadJob {
  /** For logs: the key it writes. */
  label: string;
  /** One attempt; throws to be retried. Must be safe to run again after a failure. */
  attempt(): Promise<void>;
  /** Queued jobs of the same session with the same key are replaced by the newest. */
  coalesce?: string;
}

export interface UploaderOptions {
  maxConcurrent?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  probeIntervalMs?: number;
  healthyProbeIntervalMs?: number;
  /** Backoff, probes and the stop timeout run on it (default: real time). */
  clock?: Clock;
  logger: RecorderLogger;
  onHealthChange?: (healthy: boolean, error?: string) => void;
}

export class UploaderStopped extends Error {
  constructor() {
    super('the uploader stopped; the files stay in the spool for the next start');
  }
}

interface QueuedJob extends UploadJob {
  done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

interface SessionQueue {
  jobs: QueuedJob[];
  running: boolean;
}

export class Uploader {
  private readonly queues = new Map<string, SessionQueue>();
  private readonly ready: string[] = [];
  private active = 0;
  private ok = true;
  private lastError: string | undefined;
  private stopping = false;
  /** Aborted (and replaced) to end every retry's backoff at once. */
  private wakeup = new AbortController();
  private probeTimer: unknown;
  private readonly options: Required<Omit<UploaderOptions, 'onHealthChange'>> & Pick<UploaderOptions, 'onHealthChange'>;

  constructor(
    private readonly store: RecordingStore,
    options: UploaderOptions,
  ) {
    this.options = {
      maxConcurrent: 4,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      probeIntervalMs: 2000,
      healthyProbeIntervalMs: 5000,
      clock: realClock,
      ...options,
    };
  }

  healthy(): boolean {
    return this.ok;
  }

  /** Why the store counts as down, while it does. */
  failure(): string | undefined {
    return this.ok ? undefined : this.lastError;
  }

  /** Probes once now (the answer sets the health), then keeps probing in the background. */
  async start(): Promise<void> {
    await this.probe();
    this.scheduleProbe();
  }

  enqueue(sessionId: string, job: UploadJob): Promise<void> {
    if (this.stopping) return Promise.reject(new UploaderStopped());
    let queue = this.queues.get(sessionId);
    if (!queue) {
      queue = { jobs: [], running: false };
      this.queues.set(sessionId, queue);
    }
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(() => undefined);
    if (job.coalesce) {
      // a waiting job with the same key is superseded: it settles with this one, which runs after
      // everything queued before it (an index is written after the segments it counts)
      const waiting = queue.jobs.findIndex((queued, i) => queued.coalesce === job.coalesce && !(i === 0 && queue.running));
      if (waiting >= 0) {
        const [superseded] = queue.jobs.splice(waiting, 1);
        done.then(superseded!.resolve, superseded!.reject);
      }
    }
    queue.jobs.push({ ...job, done, resolve, reject });
    if (!queue.running && !this.ready.includes(sessionId)) this.ready.push(sessionId);
    this.pump();
    return done;
  }

  /** Resolves when every job queued so far is stored (or the uploader stopped). */
  async flush(): Promise<void> {
    const pending = [...this.queues.values()].flatMap((queue) => queue.jobs.map((job) => job.done));
    await Promise.allSettled(pending);
  }

  pending(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.jobs.length;
    return count;
  }

  /** Waits up to `timeoutMs` for the queue to drain, then stops retrying; what is left stays spooled. */
  async stop(timeoutMs: number): Promise<void> {
    const waited = new AbortController();
    await Promise.race([this.flush(), sleep(this.options.clock, timeoutMs, waited.signal)]);
    waited.abort(); // the flush won: its timer goes
    this.stopping = true;
    this.options.clock.clearTimeout(this.probeTimer);
    this.wake();
    for (const queue of this.queues.values()) {
      for (const job of queue.jobs.slice(queue.running ? 1 : 0)) job.reject(new UploaderStopped());
      queue.jobs.splice(queue.running ? 1 : 0);
    }
    this.ready.length = 0;
  }

  private pump(): void {
    while (!this.stopping && this.active < this.options.maxConcurrent && this.ready.length > 0) {
      const sessionId = this.ready.shift()!;
      const queue = this.queues.get(sessionId);
      if (!queue || queue.running || queue.jobs.length === 0) continue;
      queue.running = true;
      this.active++;
      void this.runOne(sessionId, queue).finally(() => {
        this.active--;
        queue.running = false;
        if (queue.jobs.length > 0) this.ready.push(sessionId);
        else this.queues.delete(sessionId);
        this.pump();
      });
    }
  }

  private async runOne(sessionId: string, queue: SessionQueue): Promise<void> {
    const job = queue.jobs[0]!;
    for (let failures = 0; ; failures++) {
      if (this.stopping) {
        queue.jobs.shift();
        job.reject(new UploaderStopped());
        return;
      }
      try {
        await job.attempt();
        this.setHealth(true);
        queue.jobs.shift();
        job.resolve();
        return;
      } catch (error) {
        const message = (error as Error).message || String(error);
        this.setHealth(false, `upload of ${job.label} failed: ${message}`);
        const delay = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** Math.min(failures, 20));
        this.options.logger.warn({ session: sessionId, key: job.label, err: error, retryInMs: delay }, 'recording upload failed; retrying');
        // the backoff ends early when the store comes back (or the uploader stops)
        await sleep(this.options.clock, delay * (0.8 + Math.random() * 0.4), this.wakeup.signal);
      }
    }
  }

  private wake(): void {
    this.wakeup.abort();
    this.wakeup = new AbortController();
  }

  private setHealth(ok: boolean, error?: string): void {
    if (!ok) this.lastError = error;
    if (ok === this.ok) return;
    this.ok = ok;
    if (ok) {
      this.options.logger.info({ store: this.store.url }, 'recording store reachable again');
      this.wake();
    } else {
      this.options.logger.error({ store: this.store.url, error }, 'recording store unavailable; recordings stay in the spool until it returns');
    }
    this.options.onHealthChange?.(ok, error);
  }

  private async probe(): Promise<void> {
    try {
      await this.store.probe();
      this.setHealth(true);
    } catch (error) {
      this.setHealth(false, `${this.store.url} unreachable: ${(error as Error).message || String(error)}`);
    }
  }

  private scheduleProbe(): void {
    if (this.stopping) return;
    this.probeTimer = this.options.clock.setTimeout(
      () => void this.probe().finally(() => this.scheduleProbe()),
      this.ok ? this.options.healthyProbeIntervalMs : this.options.probeIntervalMs,
    );
  }
}
