/**
 * How long a failed work item waits before it is retried, after client-go's
 * `util/workqueue/default_rate_limiters.go`.
 *
 * The controller default is the slower of two limits:
 * - per item, exponential: 5 ms after the first failure, doubling on each further failure up to 1000 s,
 *   so one broken object backs off without slowing down the others;
 * - overall, a token bucket (10 per second, bursts of 100), so a failure storm across many objects
 *   (API server down) cannot hammer the API server.
 *
 * `forget(item)` ends an item's backoff once it succeeds; the next failure starts again at 5 ms.
 */
import { realClock, type Clock } from './reconciler.js';

export interface RateLimiter {
  /** Records one more retry of `item` and returns how long it must wait before it runs again, in ms. */
  when(item: string): number;
  /** Clears `item`'s history: it succeeded (or will never be retried). */
  forget(item: string): void;
  /** How many retries `item` has had since it was last forgotten. */
  retries(item: string): number;
}

/** The defaults of every limiter here, stated once. */
export const rateLimiterDefaults = {
  /** Delay after an item's first failure. */
  baseDelayMs: 5,
  /** Longest delay of one item: 1000 s. */
  maxDelayMs: 1_000_000,
  /** Retries allowed per second across all items. */
  qps: 10,
  /** Retries allowed at once before `qps` applies. */
  burst: 100,
} as const;

export interface ExponentialRateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Per item: `baseDelayMs * 2^(failures)`, at most `maxDelayMs`. */
export class ExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: ExponentialRateLimiterOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? rateLimiterDefaults.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? rateLimiterDefaults.maxDelayMs;
  }

  when(item: string): number {
    const failures = this.failures.get(item) ?? 0;
    this.failures.set(item, failures + 1);
    // 2 ** failures becomes Infinity after ~1000 failures; min() still gives the cap
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  forget(item: string): void {
    this.failures.delete(item);
  }

  retries(item: string): number {
    return this.failures.get(item) ?? 0;
  }
}

export interface TokenBucketRateLimiterOptions {
  qps?: number;
  burst?: number;
  clock?: Clock;
}

/**
 * Overall: a bucket of `burst` tokens refilled at `qps`. Each `when` takes a token; when none is left it
 * reserves the next one and returns the wait until it is refilled (the bucket goes negative), so a burst of
 * retries is spread out at `qps` instead of all failing again at once. It keeps no per-item state.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private refilledAt: number;

  constructor(options: TokenBucketRateLimiterOptions = {}) {
    this.qps = options.qps ?? rateLimiterDefaults.qps;
    this.burst = options.burst ?? rateLimiterDefaults.burst;
    this.clock = options.clock ?? realClock;
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  when(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.qps) / 1000);
    this.refilledAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.qps);
  }

  forget(): void {}

  retries(): number {
    return 0;
  }
}

/** The longest wait of all `limiters`: each one is a limit that must hold. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(item: string): number {
    // every limiter records the retry, so each must be asked, not just until one says "wait"
    return this.limiters.reduce((longest, limiter) => Math.max(longest, limiter.when(item)), 0);
  }

  forget(item: string): void {
    for (const limiter of this.limiters) limiter.forget(item);
  }

  retries(item: string): number {
    return this.limiters.reduce((most, limiter) => Math.max(most, limiter.retries(item)), 0);
  }
}

export type ControllerRateLimiterOptions = ExponentialRateLimiterOptions & TokenBucketRateLimiterOptions;

/** The controller default: per-item exponential backoff, max'd with the overall token bucket. */
export function defaultControllerRateLimiter(options: ControllerRateLimiterOptions = {}): RateLimiter {
  return new MaxOfRateLimiter(new ExponentialRateLimiter(options), new TokenBucketRateLimiter(options));
}
