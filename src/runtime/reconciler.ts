/**
 * The contract between a reconciler and the controller runtime that drives it.
 *
 * Reconciliation is level-based: `reconcile(key)` reads the current state of the named object (and of
 * whatever it owns) and makes the world match it. It is never told what changed, so a missed or
 * coalesced event costs nothing: the next call sees the same state. A key may be reconciled many times
 * for one change, never twice at the same time.
 *
 * What the runtime does with the outcome (reconciler code never touches the queue):
 * - returns `{}` or nothing: success; the key's failure count is forgotten.
 * - returns `{ requeueAfterMs }`: success; the key is reconciled again after that delay (expiry timers,
 *   polling something without a watch). The failure count is forgotten.
 * - throws `TerminalError`: the object cannot be reconciled until it changes (bad spec); the error is
 *   logged and counted, the key is forgotten and not retried.
 * - throws anything else: a transient failure; the key is retried with per-key exponential backoff
 *   (5 ms doubling to 1000 s), limited overall by a token bucket.
 */
export interface ObjectKey {
  namespace?: string;
  name: string;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /**
   * Whether the requeue is a deadline (an expiry: the work queue's `due` lane, the default) or a look
   * again that can wait behind changes (`change`).
   */
  requeueAsDeadline?: boolean;
}

export interface Reconciler {
  reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult | void>;
}

/** A failure that retrying cannot fix: the object must change first. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

/** `namespace/name`, or `name` for cluster-scoped objects: the work queue's item. */
export function keyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Time, injected so that queues, backoff and leases are testable without sleeping. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Waits `ms` on `clock`; ends early, without error, when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(handle);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const handle = clock.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
