/**
 * The controller work queue, after client-go's `util/workqueue` (queue.go, delaying_queue.go,
 * rate_limiting_queue.go). Items are object keys (`namespace/name`), never events: a controller reconciles
 * the current state of a key, so what changed, and how often, need not be kept.
 *
 * Guarantees:
 * - Fair: items are handed out by `get` in the order they were first added; but an item whose wait
 *   (`addAfter`) is over goes ahead of every item added without one, in the order of its time: a delay
 *   that comes due is a deadline (a grant's expiry), which must not queue behind a burst of new objects.
 * - Stingy: an item added again before a worker takes it is queued once (dedupe), so a burst of changes to
 *   one object costs one reconcile.
 * - Exclusive: an item is never handed to two workers at once. From `get` until `done` the item is
 *   *processing*; adding it meanwhile only marks it *dirty*.
 * - Not lost: an item marked dirty while processing is queued again by `done`, so a change that arrived
 *   during a reconcile is always seen by a later one.
 * - Delayed: `addAfter(item, ms)` adds the item once `ms` have passed. An item waits at most once: adding
 *   it again keeps the earlier of the two times, so a short retry is never postponed by a longer one.
 * - Rate limited: `addRateLimited(item)` waits as long as the rate limiter says (per-item backoff);
 *   `forget(item)` ends that backoff after a success; `numRequeues(item)` counts the retries since.
 * - Shutdown: `shutdown()` refuses further adds, drops what is queued or waiting, and makes every pending
 *   and later `get` return `undefined`; `shutdownWithDrain()` also resolves only once every item handed
 *   out has been `done`. Unlike client-go, queued items are not handed out after shutdown: reconciliation
 *   is level-based, so whoever runs next lists everything and reconciles it anyway.
 *
 * Time comes from the injected `Clock`, so tests move it by hand.
 */
import { realClock, type Clock } from './reconciler.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  /** Names the queue in metrics and logs. */
  name: string;
  /** Decides the wait of `addRateLimited`; default: `defaultControllerRateLimiter`. */
  rateLimiter?: RateLimiter;
  clock?: Clock;
}

export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter;
  /** Items ready to be handed out, in order; each is also in `dirty`. */
  private queue: string[] = [];
  /** Items whose wait is over, handed out before `queue`; each is also in `dirty`. */
  private due: string[] = [];
  /** Items that need processing: queued, or added again while processing. */
  private readonly dirty = new Set<string>();
  /** Items handed out by `get` and not yet `done`. */
  private readonly processing = new Set<string>();
  /** `get` calls waiting for an item. */
  private readonly waiters: Array<(item: string | undefined) => void> = [];
  private readonly waiting = new DelayedItems();
  private timer: { handle: unknown; readyAt: number } | undefined;
  private drained: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.clock = options.clock ?? realClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock: this.clock });
  }

  /** Queues `item` unless it is already queued; if it is processing, it is queued again after `done`. */
  add(item: string): void {
    if (this.shuttingDown || this.dirty.has(item)) return;
    this.dirty.add(item);
    if (this.processing.has(item)) return;
    this.queue.push(item);
    this.handOut();
  }

  /** Adds `item` after `delayMs`; if it is already waiting, the earlier of the two times wins. */
  addAfter(item: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item);
      return;
    }
    if (this.waiting.schedule(item, this.clock.now() + delayMs)) this.armTimer();
  }

  /** Adds `item` after the wait its rate limiter gives (its backoff grows with each call until `forget`). */
  addRateLimited(item: string): void {
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** Ends `item`'s backoff: its next `addRateLimited` starts again from the shortest wait. */
  forget(item: string): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: string): number {
    return this.rateLimiter.retries(item);
  }

  /**
   * The next item, once there is one; the caller must call `done(item)` when finished with it.
   * Resolves `undefined` once the queue is shut down: the worker should then exit.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    if (this.len() > 0) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `item` finished; if it was added while processing, it is queued again. */
  done(item: string): void {
    this.processing.delete(item);
    if (this.shuttingDown) {
      if (this.processing.size === 0) this.releaseDrainers();
      return;
    }
    if (this.dirty.has(item)) {
      this.queue.push(item);
      this.handOut();
    }
  }

  /** Items ready to be handed out (neither processing nor waiting): the queue depth metric. */
  len(): number {
    return this.due.length + this.queue.length;
  }

  /** Stops the queue now: no more adds; queued and waiting items are dropped; `get` resolves `undefined`. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.queue = [];
    this.due = [];
    this.dirty.clear();
    this.waiting.clear();
    if (this.timer) this.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  /** `shutdown()`, then resolves once every item handed out has been `done`. */
  shutdownWithDrain(): Promise<void> {
    this.shutdown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private take(): string {
    const item = (this.due.length > 0 ? this.due : this.queue).shift()!;
    this.dirty.delete(item);
    this.processing.add(item);
    return item;
  }

  private handOut(): void {
    while (this.waiters.length > 0 && this.len() > 0) this.waiters.shift()!(this.take());
  }

  /**
   * `add` for an item whose wait is over: queued in `due`, moved there if it was queued without a wait.
   * One that is processing is queued again after `done`, as `add` does.
   */
  private addDue(item: string): void {
    if (this.processing.has(item)) return this.add(item);
    if (this.dirty.has(item)) {
      const queued = this.queue.indexOf(item);
      if (queued < 0) return; // already due
      this.queue.splice(queued, 1);
    }
    this.dirty.add(item);
    this.due.push(item);
    this.handOut();
  }

  private releaseDrainers(): void {
    for (const resolve of this.drained.splice(0)) resolve();
  }

  /** One timer, for the earliest waiting item; re-armed whenever the earliest changes. */
  private armTimer(): void {
    const readyAt = this.waiting.earliest();
    if (this.timer?.readyAt === readyAt) return;
    if (this.timer) this.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
    if (readyAt === undefined) return;
    const handle = this.clock.setTimeout(() => {
      this.timer = undefined;
      for (const item of this.waiting.takeReady(this.clock.now())) this.addDue(item);
      this.armTimer();
    }, Math.max(0, readyAt - this.clock.now()));
    this.timer = { handle, readyAt };
  }
}

/**
 * Items waiting for their time, each at most once: a binary min-heap on the ready time. A rescheduled item
 * leaves its old entry in the heap; entries that no longer match `readyAt` are skipped when they surface.
 */
class DelayedItems {
  private heap: Array<{ item: string; readyAt: number }> = [];
  private readonly readyAt = new Map<string, number>();

  /** Returns false when `item` already waits until `readyAt` or earlier (the earlier time wins). */
  schedule(item: string, readyAt: number): boolean {
    const current = this.readyAt.get(item);
    if (current !== undefined && current <= readyAt) return false;
    this.readyAt.set(item, readyAt);
    this.push({ item, readyAt });
    return true;
  }

  earliest(): number | undefined {
    this.dropStale();
    return this.heap[0]?.readyAt;
  }

  /** Removes and returns, earliest first, every item ready at `now`. */
  takeReady(now: number): string[] {
    const ready: string[] = [];
    for (let top = this.earliest(); top !== undefined && top <= now; top = this.earliest()) {
      const { item } = this.pop();
      this.readyAt.delete(item);
      ready.push(item);
    }
    return ready;
  }

  clear(): void {
    this.heap = [];
    this.readyAt.clear();
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.readyAt.get(this.heap[0]!.item) !== this.heap[0]!.readyAt) this.pop();
  }

  private push(entry: { item: string; readyAt: number }): void {
    const heap = this.heap;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.readyAt <= heap[i]!.readyAt) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private pop(): { item: string; readyAt: number } {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length === 0) return top;
    heap[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left]!.readyAt < heap[smallest]!.readyAt) smallest = left;
      if (right < heap.length && heap[right]!.readyAt < heap[smallest]!.readyAt) smallest = right;
      if (smallest === i) break;
      [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
      i = smallest;
    }
    return top;
  }
}
