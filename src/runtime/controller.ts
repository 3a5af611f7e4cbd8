/**
 * A controller: a work queue of object keys, the event sources that fill it, and workers that call the
 * reconciler for each key, after controller-runtime's `pkg/internal/controller/controller.go`.
 *
 * Guarantees, from the work queue: a key is reconciled by one worker at a time, a burst of events for one key
 * costs one reconcile, and a change during a reconcile leads to another one after it. What happens after
 * a reconcile is decided in one place, `reconcileHandler`, by the rules of `Reconciler` (reconciler.ts):
 *
 * | reconcile                                             | queue                        | reconcile_total result |
 * | ----------------------------------------------------- | ---------------------------- | ---------------------- |
 * | returns, no `requeueAfterMs`                          | forget                       | success                |
 * | returns `requeueAfterMs > 0` (a deadline)             | forget, addAfter(ms, due)    | requeue_after          |
 * | returns `requeueAfterMs > 0, requeueAsDeadline: false`| forget, addAfter(ms, change) | requeue_after          |
 * | throws `TerminalError`                                | forget (no retry), log       | error (+ terminal)     |
 * | throws anything else                                  | addRateLimited (backoff)     | error                  |
 *
 * Reconcilers never touch the queue.
 */
import { pino, type Logger } from 'pino';
import type { EventSource } from './informer.js';
import { createRuntimeMetrics, type ReconcileResultLabel, type RuntimeMetrics } from './metrics.js';
import type { RateLimiter } from './rate-limiter.js';
import { keyString, parseKey, realClock, TerminalError, type Clock, type ObjectKey, type Reconciler } from './reconciler.js';
import { WorkQueue, type Lane } from './workqueue.js';
import { fnv1a } from '../util/fnv.js';

export interface ControllerOptions {
  /** Names the controller in logs and metrics, and its queue. */
  name: string;
  reconciler: Reconciler;
  /** Keys reconciled at once (each key still by one worker at a time). */
  workers?: number;
  /** Backoff of failed keys; default: `defaultControllerRateLimiter()` (per-key exponential, max'd with a token bucket). */
  rateLimiter?: RateLimiter;
  clock?: Clock;
  logger?: Logger;
  /** Where to count; default: a registry of the controller's own. */
  metrics?: RuntimeMetrics;
}

export interface WatchOptions<T> {
  updateMatters?: (object: T, old: T) => boolean;
  delayMs?: number;
  /** Spread a resync's keys over this long (each key at a fixed offset within it); 0: all at once. */
  resyncSpreadMs?: number;
}

/** A key's fixed offset within `spreadMs`: the same key lands at the same offset every resync. */
export function resyncOffsetMs(key: ObjectKey, spreadMs: number): number {
  return spreadMs > 0 ? fnv1a(keyString(key)) % spreadMs : 0;
}

export const controllerDefaults = {
  workers: 2,
} as const;

export class Controller {
  readonly name: string;
  private readonly reconciler: Reconciler;
  private readonly workers: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: RuntimeMetrics;
  private readonly queue: WorkQueue;
  private started = false;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconciler = options.reconciler;
    this.workers = options.workers ?? controllerDefaults.workers;
    this.clock = options.clock ?? realClock;
    this.logger = (options.logger ?? pino({ enabled: false })).child({ controller: options.name });
    this.metrics = options.metrics ?? createRuntimeMetrics();
    this.queue = new WorkQueue({ name: options.name, rateLimiter: options.rateLimiter, clock: this.clock });
    this.metrics.trackQueueDepth(options.name, () => this.queue.len());
  }

  /** Asks for `key` to be reconciled. Keys queued before `start` wait for it. */
  enqueue(key: ObjectKey): void {
    this.queue.add(keyString(key));
  }

  /** Asks for `key` to be reconciled after `delayMs` (the earliest request and the higher lane win). */
  enqueueAfter(key: ObjectKey, delayMs: number, lane?: Lane): void {
    this.queue.addAfter(keyString(key), delayMs, lane);
  }

  /**
   * Enqueues the keys `mapToKeys` gives for every object `source` adds, updates or deletes. On update both the
   * new and the old object are mapped, so a key the object no longer points to is reconciled too.
   * `updateMatters` (controller-runtime's predicates) drops updates the reconciler need not see — typically
   * its own status writes, which would otherwise reconcile every object once more for nothing; periodic
   * resyncs are always delivered. `delayMs` batches: a burst of events for one key within the delay costs
   * one reconcile (the queue keeps the earliest time). `resyncSpreadMs` spreads a resync's thousands of
   * keys over time, so that a key due now (an expiry) never waits in the queue behind all of them.
   */
  watch<T>(source: EventSource<T>, mapToKeys: (object: T) => ObjectKey[], options: WatchOptions<T> = {}): void {
    const { updateMatters, delayMs = 0, resyncSpreadMs = 0 } = options;
    const enqueueAll = (objects: T[], lane: Lane, spreadMs = 0) => {
      for (const object of objects) for (const key of mapToKeys(object)) this.enqueueAfter(key, delayMs + resyncOffsetMs(key, spreadMs), lane);
    };
    source.addEventHandler({
      // what the informer listed first, and its resyncs, are no news: they queue behind changes
      onAdd: (object, isInInitialList) => enqueueAll([object], isInInitialList ? 'background' : 'change'),
      onUpdate: (object, old) => {
        if (object === old) enqueueAll([object], 'background', resyncSpreadMs); // a resync
        else if (!updateMatters || updateMatters(object, old)) enqueueAll([object, old], 'change');
      },
      onDelete: (object) => enqueueAll([object], 'change'),
    });
  }

  /**
   * Runs the workers until `signal` aborts, then stops taking keys and resolves once every reconcile in
   * progress has returned (they get `signal`, aborted, to cut work short). A controller starts once.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error(`controller ${this.name} was already started`);
    this.started = true;
    const stop = () => void this.queue.shutdownWithDrain();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    this.logger.info({ workers: this.workers }, 'starting workers');
    await Promise.all(Array.from({ length: this.workers }, () => this.worker(signal)));
    this.logger.info('workers stopped');
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (let item = await this.queue.get(); item !== undefined; item = await this.queue.get()) {
      await this.reconcileHandler(item, signal);
    }
  }

  /** Reconciles one key and decides, in this one switch, what the outcome does to the queue and metrics. */
  private async reconcileHandler(item: string, signal: AbortSignal): Promise<void> {
    const controller = this.name;
    const startedAt = this.clock.now();
    let result: ReconcileResultLabel;
    try {
      const outcome = await this.reconciler.reconcile(parseKey(item), signal);
      const requeueAfterMs = outcome?.requeueAfterMs ?? 0;
      this.queue.forget(item);
      if (requeueAfterMs > 0) {
        this.queue.addAfter(item, requeueAfterMs, outcome?.requeueAsDeadline === false ? 'change' : 'due');
        result = 'requeue_after';
      } else {
        result = 'success';
      }
    } catch (error) {
      result = 'error';
      this.metrics.reconcileErrors.inc({ controller });
      if (error instanceof TerminalError) {
        this.queue.forget(item);
        this.metrics.terminalReconcileErrors.inc({ controller });
        this.logger.error({ err: error, key: item }, 'reconcile failed for good; not retrying until the object changes');
      } else {
        this.queue.addRateLimited(item);
        this.metrics.workqueueRetries.inc({ name: this.queue.name });
        this.logger.error({ err: error, key: item, retries: this.queue.numRequeues(item) }, 'reconcile failed; retrying with backoff');
      }
    } finally {
      this.queue.done(item);
    }
    const seconds = (this.clock.now() - startedAt) / 1000;
    this.metrics.reconcileTotal.inc({ controller, result });
    this.metrics.reconcileTime.observe({ controller }, seconds);
    this.logger.debug({ key: item, result, seconds, queued: this.queue.len() }, 'reconciled');
  }
}
