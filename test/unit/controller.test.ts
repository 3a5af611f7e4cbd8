/**
 * The controller's reconcileHandler rules (see controller.ts and reconciler.ts), driven through the public
 * API with a manual clock: which outcome requeues when, and what is counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, resyncOffsetMs } from '../../src/runtime/controller.js';
import type { EventSource, InformerEventHandler } from '../../src/runtime/informer.js';
import { createRuntimeMetrics, type RuntimeMetrics } from '../../src/runtime/metrics.js';
import { ExponentialRateLimiter } from '../../src/runtime/rate-limiter.js';
import {
  keyString,
  TerminalError,
  type ObjectKey,
  type ReconcileResult,
} from '../../src/runtime/reconciler.js';
import { ManualClock } from '../harness/manual-clock.js';

/** Moves the clock on, letting the workers run after each timer, as they would in real time. */
const advance = (clock: ManualClock, ms: number) => clock.advanceSettling(ms, settle);

/** Lets every pending promise callback (queue hand-outs, reconciles) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** What the reconciler does on the `call`-th reconcile of `key`. */
type Behaviour = (call: number, key: string) => ReconcileResult | void | Promise<ReconcileResult | void>;

/** A controller whose reconciler follows `behaviour` and records the time of every call per key. */
function harness(behaviour: Behaviour, workers = 2) {
  const clock = new ManualClock();
  const metrics = createRuntimeMetrics();
  const calls: Array<{ key: string; at: number }> = [];
  const controller = new Controller({
    name: 'test',
    workers,
    clock,
    metrics,
    // per-item backoff only: the overall bucket is tested in rate-limiter.test.ts
    rateLimiter: new ExponentialRateLimiter(),
    reconciler: {
      reconcile: async (key: ObjectKey) => {
        calls.push({ key: keyString(key), at: clock.now() });
        return behaviour(calls.filter((call) => call.key === keyString(key)).length, keyString(key));
      },
    },
  });
  const stop = new AbortController();
  const running = controller.start(stop.signal);
  const times = (key: string) => calls.filter((call) => call.key === key).map((call) => call.at);
  return { clock, metrics, controller, calls, times, stop, running };
}

async function counted(metrics: RuntimeMetrics, metric: 'reconcileTotal' | 'reconcileErrors' | 'terminalReconcileErrors' | 'workqueueRetries') {
  const values = (await metrics[metric].get()).values;
  return Object.fromEntries(
    values.map((value) => {
      const labels: Record<string, string | number | undefined> = value.labels;
      return [String(labels.result ?? labels.controller ?? labels.name), value.value];
    }),
  );
}

test('success reconciles once and forgets the key', async () => {
  const h = harness(() => ({}));
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  await advance(h.clock, 0);
  await advance(h.clock, 60_000);
  assert.deepEqual(h.times('ns/a'), [0]);
  assert.deepEqual(await counted(h.metrics, 'reconcileTotal'), { success: 1 });
  h.stop.abort();
  await h.running;
});

test('an error requeues the key with per-key exponential backoff: 5, 10, 20 ms …', async () => {
  const h = harness((call) => {
    if (call <= 4) throw new Error('API server unavailable');
  });
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  await advance(h.clock, 0);
  await advance(h.clock, 1000);
  // failures at 0, 5, 15, 35 ms; the fifth call (at 75 ms) succeeds and nothing follows
  assert.deepEqual(h.times('ns/a'), [0, 5, 15, 35, 75]);
  assert.deepEqual(await counted(h.metrics, 'reconcileTotal'), { error: 4, success: 1 });
  assert.deepEqual(await counted(h.metrics, 'reconcileErrors'), { test: 4 });
  assert.deepEqual(await counted(h.metrics, 'workqueueRetries'), { test: 4 });
  h.stop.abort();
  await h.running;
});

test('success forgets the failures: the next error starts again at 5 ms', async () => {
  const h = harness((call) => {
    if (call !== 3) throw new Error('flaky');
  });
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  await advance(h.clock, 0); // call 1 fails: retry in 5
  await advance(h.clock, 5); // call 2 fails: retry in 10
  await advance(h.clock, 10); // call 3 succeeds at 15
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  await advance(h.clock, 100); // call 4 at 115 fails: retry in 5, not 20
  await advance(h.clock, 5);
  assert.deepEqual(h.times('ns/a').slice(0, 5), [0, 5, 15, 115, 120]);
  h.stop.abort();
  await h.running;
});

test('a TerminalError is counted and logged but never retried', async () => {
  const h = harness(() => {
    throw new TerminalError('spec.duration is not a duration');
  });
  h.controller.enqueue({ namespace: 'ns', name: 'bad' });
  await advance(h.clock, 0);
  await advance(h.clock, 3_600_000);
  assert.deepEqual(h.times('ns/bad'), [0]);
  assert.deepEqual(await counted(h.metrics, 'reconcileTotal'), { error: 1 });
  assert.deepEqual(await counted(h.metrics, 'terminalReconcileErrors'), { test: 1 });
  assert.deepEqual(await counted(h.metrics, 'workqueueRetries'), {});
  // the object changes: it is reconciled again, from a clean slate
  h.controller.enqueue({ namespace: 'ns', name: 'bad' });
  await advance(h.clock, 0);
  assert.deepEqual(h.times('ns/bad'), [0, 3_600_000]);
  h.stop.abort();
  await h.running;
});

test('requeueAfterMs reconciles again after exactly that delay and forgets earlier failures', async () => {
  const h = harness((call) => {
    if (call === 1 || call === 2) throw new Error('not yet');
    if (call === 3) return { requeueAfterMs: 30_000 };
    if (call === 4) throw new Error('again');
    return {};
  });
  h.controller.enqueue({ name: 'cluster-scoped' });
  await advance(h.clock, 0);
  await advance(h.clock, 100_000);
  // fails at 0 and 5; at 15 asks for 30 s; at 30 015 fails and backs off 5 ms (not 20): forgotten
  assert.deepEqual(h.times('cluster-scoped'), [0, 5, 15, 30_015, 30_020]);
  assert.deepEqual(await counted(h.metrics, 'reconcileTotal'), { error: 3, requeue_after: 1, success: 1 });
  h.stop.abort();
  await h.running;
});

test('enqueueAfter waits, and an earlier request for the same key wins', async () => {
  const h = harness(() => ({}));
  h.controller.enqueueAfter({ namespace: 'ns', name: 'a' }, 5_000);
  h.controller.enqueueAfter({ namespace: 'ns', name: 'a' }, 1_000);
  await advance(h.clock, 10_000);
  assert.deepEqual(h.times('ns/a'), [1_000]);
  h.stop.abort();
  await h.running;
});

test('a key is never reconciled by two workers at once; a change meanwhile is reconciled after', async () => {
  let release!: () => void;
  let inFlight = 0;
  let mostInFlight = 0;
  const h = harness(async (call, key) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    if (key === 'ns/a' && call === 1) await new Promise<void>((resolve) => (release = resolve));
    inFlight -= 1;
  }, 4);
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  await settle();
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  h.controller.enqueue({ namespace: 'ns', name: 'a' });
  h.controller.enqueue({ namespace: 'ns', name: 'b' });
  await settle();
  assert.deepEqual(h.calls.map((call) => call.key), ['ns/a', 'ns/b'], 'ns/a waits for its first reconcile; ns/b does not');
  release();
  await settle();
  assert.deepEqual(h.calls.map((call) => call.key), ['ns/a', 'ns/b', 'ns/a'], 'the changes during the first run cost one more');
  assert.equal(mostInFlight, 1 + 1, 'ns/a and ns/b ran in parallel, never ns/a twice');
  h.stop.abort();
  await h.running;
});

test('watch maps add, update (new and old object) and delete events to keys', async () => {
  const h = harness(() => ({}));
  let handler!: InformerEventHandler<{ name: string; owner: string }>;
  const source: EventSource<{ name: string; owner: string }> = { addEventHandler: (added) => (handler = added) };
  h.controller.watch(source, (object) => [{ namespace: 'ns', name: object.owner }]);
  handler.onAdd!({ name: 'x', owner: 'one' });
  handler.onUpdate!({ name: 'x', owner: 'two' }, { name: 'x', owner: 'three' });
  handler.onDelete!({ name: 'x', owner: 'four' });
  await advance(h.clock, 0);
  assert.deepEqual(h.calls.map((call) => call.key).sort(), ['ns/four', 'ns/one', 'ns/three', 'ns/two']);
  h.stop.abort();
  await h.running;
});

test('watch options: updates that do not matter are dropped (resyncs are not); a delay folds a burst into one reconcile', async () => {
  const h = harness(() => ({}));
  type Item = { name: string; generation: number };
  let handler!: InformerEventHandler<Item>;
  const source: EventSource<Item> = { addEventHandler: (added) => (handler = added) };
  h.controller.watch(source, (object) => [{ namespace: 'ns', name: object.name }], { updateMatters: (object, old) => object.generation !== old.generation, delayMs: 200 });
  const same = { name: 'status-only', generation: 1 };
  handler.onUpdate!({ name: 'status-only', generation: 1 }, same);
  await advance(h.clock, 500);
  assert.equal(h.calls.length, 0, 'a status-only update reconciles nothing');
  handler.onUpdate!(same, same); // a resync hands the same object twice
  for (let generation = 2; generation < 12; generation++) handler.onUpdate!({ name: 'burst', generation }, { name: 'burst', generation: generation - 1 });
  await advance(h.clock, 199);
  assert.equal(h.calls.length, 0, 'nothing before the delay');
  await advance(h.clock, 1);
  assert.deepEqual(h.calls.map((call) => call.key).sort(), ['ns/burst', 'ns/status-only'], 'ten changes, one reconcile; the resync one more');
  h.stop.abort();
  await h.running;
});

test('watch options: a resync is spread over resyncSpreadMs, each key at its fixed offset; other events are not delayed', async () => {
  const h = harness(() => ({}));
  let handler!: InformerEventHandler<{ name: string }>;
  const source: EventSource<{ name: string }> = { addEventHandler: (added) => (handler = added) };
  h.controller.watch(source, (object) => [{ namespace: 'ns', name: object.name }], { resyncSpreadMs: 1000 });
  const names = Array.from({ length: 20 }, (_, i) => `grant-${i}`);
  const changedAt = h.clock.now();
  for (const name of names) handler.onUpdate!({ name }, { name });
  await advance(h.clock, 0);
  assert.equal(new Set(h.calls.map((call) => call.key)).size, 20, 'a change (two different objects) is reconciled at once');
  assert.ok(h.calls.every((call) => call.at === changedAt));
  h.calls.length = 0;
  const resyncAt = h.clock.now();
  for (const name of names) {
    const object = { name };
    handler.onUpdate!(object, object); // a resync hands the same object twice
  }
  await advance(h.clock, 1000);
  const offsets = names.map((name) => resyncOffsetMs({ namespace: 'ns', name }, 1000));
  assert.deepEqual(names.map((name) => h.times(`ns/${name}`)), offsets.map((offset) => [resyncAt + offset]), 'one reconcile each, at its own offset');
  assert.ok(new Set(offsets).size > 10 && offsets.every((offset) => offset >= 0 && offset < 1000), 'spread over the whole period');
  h.stop.abort();
  await h.running;
});

test('watch lanes: the first list and resyncs queue behind changes; a requeueAfter that comes due goes ahead of both', async () => {
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  // one worker, held by ns/blocker while the queue fills; ns/expiring asks to be called back in 10 ms
  const h = harness((call, key) => (key === 'ns/blocker' ? blocked : key === 'ns/expiring' && call === 1 ? { requeueAfterMs: 10 } : {}), 1);
  let handler!: InformerEventHandler<{ name: string }>;
  const source: EventSource<{ name: string }> = { addEventHandler: (added) => (handler = added) };
  h.controller.watch(source, (object) => [{ namespace: 'ns', name: object.name }]);
  handler.onAdd!({ name: 'expiring' }, false);
  await advance(h.clock, 0);
  handler.onAdd!({ name: 'blocker' }, false);
  await advance(h.clock, 0);
  for (let i = 0; i < 3; i++) handler.onAdd!({ name: `listed-${i}` }, true);
  const resynced = { name: 'resynced' };
  handler.onUpdate!(resynced, resynced);
  handler.onAdd!({ name: 'created' }, false);
  handler.onUpdate!({ name: 'changed' }, { name: 'changed' });
  await advance(h.clock, 10);
  release();
  await advance(h.clock, 0);
  assert.deepEqual(
    h.calls.map((call) => call.key),
    ['ns/expiring', 'ns/blocker', 'ns/expiring', 'ns/created', 'ns/changed', 'ns/listed-0', 'ns/listed-1', 'ns/listed-2', 'ns/resynced'],
  );
  h.stop.abort();
  await h.running;
});

test('requeueAsDeadline: false requeues in the change lane: a due deadline that comes at the same time goes first', async () => {
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const h = harness((call, key) => {
    if (key === 'ns/blocker') return blocked;
    if (call > 1) return {};
    return key === 'ns/look-again' ? { requeueAfterMs: 10, requeueAsDeadline: false } : { requeueAfterMs: 10 };
  }, 1);
  h.controller.enqueue({ namespace: 'ns', name: 'look-again' });
  await advance(h.clock, 0);
  h.controller.enqueue({ namespace: 'ns', name: 'expiring' });
  await advance(h.clock, 0);
  h.controller.enqueue({ namespace: 'ns', name: 'blocker' });
  await advance(h.clock, 10);
  release();
  await advance(h.clock, 0);
  assert.deepEqual(h.calls.map((call) => call.key), ['ns/look-again', 'ns/expiring', 'ns/blocker', 'ns/expiring', 'ns/look-again']);
  h.stop.abort();
  await h.running;
});

test('stopping lets the reconcile in flight finish, with an aborted signal, then takes no more keys', async () => {
  let release!: () => void;
  let sawAbort = false;
  const clock = new ManualClock();
  const calls: string[] = [];
  const controller = new Controller({
    name: 'drain',
    workers: 1,
    clock,
    reconciler: {
      reconcile: async (key, signal) => {
        calls.push(keyString(key));
        await new Promise<void>((resolve) => (release = resolve));
        sawAbort = signal.aborted;
      },
    },
  });
  const stop = new AbortController();
  const running = controller.start(stop.signal);
  controller.enqueue({ namespace: 'ns', name: 'a' });
  controller.enqueue({ namespace: 'ns', name: 'b' });
  await settle();
  stop.abort();
  let stopped = false;
  void running.then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false, 'start resolves only after the reconcile in flight returns');
  release();
  await running;
  assert.equal(sawAbort, true);
  assert.deepEqual(calls, ['ns/a'], 'ns/b was queued but not started after the stop');
  await assert.rejects(controller.start(new AbortController().signal), /already started/);
});
