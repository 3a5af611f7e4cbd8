import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultControllerRateLimiter,
  ExponentialRateLimiter,
  MaxOfRateLimiter,
  rateLimiterDefaults,
  TokenBucketRateLimiter,
  type RateLimiter,
} from '../../src/runtime/rate-limiter.js';
import type { Clock } from '../../src/runtime/reconciler.js';

/** The token bucket only reads the time. */
function manualTime(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    setTimeout: () => assert.fail('the rate limiter sets no timers'),
    clearTimeout: () => undefined,
    advance: (ms) => void (now += ms),
  };
}

test('the defaults are client-go’s: 5 ms doubling to 1000 s per item, 10 qps with bursts of 100 overall', () => {
  assert.deepEqual({ ...rateLimiterDefaults }, { baseDelayMs: 5, maxDelayMs: 1_000_000, qps: 10, burst: 100 });
});

test('per-item backoff doubles from 5 ms on each failure and stops at 1000 s', () => {
  const limiter = new ExponentialRateLimiter();
  const delays = Array.from({ length: 22 }, () => limiter.when('ns/a'));
  assert.deepEqual(delays.slice(0, 6), [5, 10, 20, 40, 80, 160]);
  // 5 ms × 2^17 = 655.36 s is the last doubling under the cap; from then on it is 1000 s
  assert.equal(delays[17], 655_360);
  assert.deepEqual(delays.slice(18), [1_000_000, 1_000_000, 1_000_000, 1_000_000]);
  assert.equal(limiter.retries('ns/a'), 22);
});

test('backoff is per item: one failing object does not slow another down', () => {
  const limiter = new ExponentialRateLimiter();
  limiter.when('ns/a');
  limiter.when('ns/a');
  assert.equal(limiter.when('ns/a'), 20);
  assert.equal(limiter.when('ns/b'), 5);
  assert.equal(limiter.retries('ns/a'), 3);
  assert.equal(limiter.retries('ns/b'), 1);
});

test('forget resets an item to the shortest backoff and zero retries', () => {
  const limiter = new ExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000 });
  for (let i = 0; i < 10; i++) limiter.when('ns/a');
  assert.equal(limiter.when('ns/a'), 1_000);
  limiter.forget('ns/a');
  assert.equal(limiter.retries('ns/a'), 0);
  assert.equal(limiter.when('ns/a'), 5);
});

test('the token bucket lets a burst through, then spaces retries at qps, and refills with time', () => {
  const clock = manualTime();
  const bucket: RateLimiter = new TokenBucketRateLimiter({ qps: 10, burst: 100, clock });
  const burst = Array.from({ length: 100 }, (_, i) => bucket.when(`ns/item-${i}`));
  assert.ok(burst.every((delay) => delay === 0));
  assert.equal(bucket.when('ns/x'), 100);
  assert.equal(bucket.when('ns/y'), 200);
  clock.advance(1000); // 10 tokens back; 2 of them were already promised
  const afterRefill = Array.from({ length: 9 }, (_, i) => bucket.when(`ns/later-${i}`));
  assert.deepEqual(afterRefill, [0, 0, 0, 0, 0, 0, 0, 0, 100]);
  assert.equal(bucket.retries('ns/x'), 0);
});

test('max-of waits as long as the slowest limiter and forgets in all of them', () => {
  const clock = manualTime();
  const limiter = new MaxOfRateLimiter(new ExponentialRateLimiter(), new TokenBucketRateLimiter({ qps: 1, burst: 1, clock }));
  assert.equal(limiter.when('ns/a'), 5); // bucket had a token; the item's backoff decides
  assert.equal(limiter.when('ns/a'), 1000); // bucket empty: its wait decides
  assert.equal(limiter.retries('ns/a'), 2);
  limiter.forget('ns/a');
  assert.equal(limiter.retries('ns/a'), 0);
});

test('the default controller limiter: per-item backoff until a failure storm empties the bucket', () => {
  const clock = manualTime();
  const limiter = defaultControllerRateLimiter({ clock });
  const storm = Array.from({ length: 100 }, (_, i) => limiter.when(`ns/item-${i}`));
  assert.ok(storm.every((delay) => delay === 5));
  assert.equal(limiter.when('ns/item-100'), 100);
  assert.equal(limiter.when('ns/item-0'), 200);
  clock.advance(60_000);
  assert.equal(limiter.when('ns/item-0'), 20);
});
