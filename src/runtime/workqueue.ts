/**
 * The controller work queue, after client-go's `util/workqueue` (queue.go, delaying_queue.go,
 * rate_limiting_queue.go). Items are object keys (`namespace/name`), never events: a controller reconciles
 * the current state of a key, so what changed, and how often, need not be kept.
 *
 * Guarantees:
 * - Fair by lane: a ready item waits in one of three lanes, handed out in this order, each first in, first
 *   out (after controller-runtime's priority queue):
 *   - `due`: a time the reconciler asked to be called back at (a grant's expiry), a deadline that must not
 *     queue behind a burst of new objects;
 *   - `change` (the default): an object changed, or a failed reconcile's backoff is over;
 *   - `background`: objects re-checked for no news, the informers' first list and their resyncs. After a
 *     restart with thousands of objects, a new object or an expiry is still handled at once.
 *   An item added again to a higher lane moves up (keeping its place among that lane's); never down.
 * - Stingy: an item added again before a worker takes it is queued once (dedupe), so a burst of changes to
 *   one object costs one reconcile.
 * - Exclusive: an item is never handed to two workers at once. From `get` until `done` the item is
 *   *processing*; adding it meanwhile only marks it *dirty*.
 * - Not lost: an item marked dirty while processing is queued again by `done`, so a change that arrived
 *   during a reconcile is always seen by a later one.
 * - Delayed: `addAfter(item, ms)` adds the item once `ms` have passed. An item waits at most once: adding
 *   it again keeps the earlier of the two times, so a short retry is never postponed by a longer one. A
 *   deadline (an `addAfter` in the `due` lane) is the exception: it stands until it passes, so an item
 *   handed out before it for another reason (a failed reconcile's retry, a resync) still comes back at
 *   its deadline — a grant's expiry is never lost behind a backoff that grows past it.
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

/** The lanes of ready items, in the order they are handed out. */
export const lanes = ['due', 'change', 'background'] as const;
export type Lane = (typeof lanes)[number];
const rank: Record<Lane, number> = { due: 0, change: 1, background: 2 };
const emptyLanes = (): Record<Lane, string[]> => ({ due: [], change: [], background: [] });
const higher = (a: Lane, b: Lane): Lane => (rank[a] <= rank[b] ? a : b);

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
  /** Items ready to be handed out, lane by lane, in order; each is also in `dirty`, with its lane. */
  private ready: Record<Lane, string[]> = emptyLanes();
  /** Items that need processing and their lane: queued, or added again while processing (queued at `done`). */
  private readonly dirty = new Map<string, Lane>();
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

  /**
   * Queues `item` in `lane` unless it is already queued there or higher (a lower lane's item moves up);
   * if it is processing, it is queued again after `done`.
   */
  add(item: string, lane: Lane = 'change'): void {
    const current = this.dirty.get(item);
    if (this.shuttingDown || (current !== undefined && rank[current] <= rank[lane])) return;
    this.dirty.set(item, lane);
    if (this.processing.has(item)) return;
    if (current !== undefined) this.ready[current].splice(this.ready[current].indexOf(item), 1);
    this.ready[lane].push(item);
    this.handOut();
  }

  /** Adds `item` to `lane` after `delayMs`; if it is already waiting, the earlier time and the higher lane win. */
  addAfter(item: string, delayMs: number, lane: Lane = 'change'): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(item, lane);
      return;
    }
    if (this.waiting.schedule(item, this.clock.now() + delayMs, lane)) this.armTimer();
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
    const lane = this.dirty.get(item);
    if (lane !== undefined) {
      this.ready[lane].push(item);
      this.handOut();
    }
  }

  /** Items ready to be handed out (neither processing nor waiting): the queue depth metric. */
  len(): number {
    return lanes.reduce((sum, lane) => sum + this.ready[lane].length, 0);
  }

  /** Stops the queue now: no more adds; queued and waiting items are dropped; `get` resolves `undefined`. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.ready = emptyLanes();
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
    const item = this.ready[lanes.find((lane) => this.ready[lane].length > 0)!].shift()!;
    this.dirty.delete(item);
    this.processing.add(item);
    return item;
  }

  private handOut(): void {
    while (this.waiters.length > 0 && this.len() > 0) this.waiters.shift()!(this.take());
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
      for (const { item, lane } of this.waiting.takeReady(this.clock.now())) this.add(item, lane);
      this.armTimer();
    }, Math.max(0, readyAt - this.clock.now()));
    this.timer = { handle, readyAt };
  }
}

/**
 * Items waiting for their time, each at most once: a binary min-heap on the ready time. A rescheduled item
 * leaves its old entry in the heap; entries that no longer match `readyAt` are skipped when they surface.
 * Per item: when it is next ready (the earliest request), the higher lane of its requests other than
 * deadlines, and its earliest deadline (`due` requests), kept apart so that it outlives an earlier wake-up.
 */
class DelayedItems {
  private heap: Array<{ item: string; readyAt: number }> = [];
  private readonly scheduled = new Map<string, { readyAt: number; lane?: Lane; deadline?: number }>();

  /** Returns false when `item` already waits until `readyAt` or earlier (the earlier time wins). */
  schedule(item: string, readyAt: number, lane: Lane): boolean {
    const current = this.scheduled.get(item);
    const next = {
      readyAt: Math.min(readyAt, current?.readyAt ?? Infinity),
      lane: lane === 'due' ? current?.lane : current?.lane ? higher(current.lane, lane) : lane,
      deadline: lane === 'due' ? Math.min(readyAt, current?.deadline ?? Infinity) : current?.deadline,
    };
    this.scheduled.set(item, next);
    if (current !== undefined && current.readyAt <= readyAt) return false;
    this.push({ item, readyAt });
    return true;
  }

  earliest(): number | undefined {
    this.dropStale();
    return this.heap[0]?.readyAt;
  }

  /**
   * Removes and returns, earliest first, every item ready at `now` — in `due` when its deadline has come;
   * one handed out before its deadline waits on for it.
   */
  takeReady(now: number): Array<{ item: string; lane: Lane }> {
    const ready: Array<{ item: string; lane: Lane }> = [];
    for (let top = this.earliest(); top !== undefined && top <= now; top = this.earliest()) {
      const { item } = this.pop();
      const { lane, deadline } = this.scheduled.get(item)!;
      this.scheduled.delete(item);
      if (deadline !== undefined && deadline <= now) {
        ready.push({ item, lane: 'due' });
      } else {
        ready.push({ item, lane: lane ?? 'change' });
        if (deadline !== undefined) this.schedule(item, deadline, 'due');
      }
    }
    return ready;
  }

  clear(): void {
    this.heap = [];
    this.scheduled.clear();
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.scheduled.get(this.heap[0]!.item)?.readyAt !== this.heap[0]!.readyAt) this.pop();
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
