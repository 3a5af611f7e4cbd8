import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import { ExponentialRateLimiter } from '../../src/runtime/rate-limiter.js';
import { ManualClock } from '../harness/manual-clock.js';

function queue(clock = new ManualClock()): WorkQueue {
  return new WorkQueue({ name: 'test', clock, rateLimiter: new ExponentialRateLimiter() });
}

/** Whether `promise` has settled once pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

async function drain(q: WorkQueue): Promise<string[]> {
  const items: string[] = [];
  while (q.len() > 0) {
    const item = (await q.get())!;
    items.push(item);
    q.done(item);
  }
  return items;
}

test('items come out in the order they were added, and an item queued twice comes out once', async () => {
  const q = queue();
  for (const item of ['ns/a', 'ns/b', 'ns/a', 'ns/c', 'ns/b']) q.add(item);
  assert.equal(q.len(), 3);
  assert.deepEqual(await drain(q), ['ns/a', 'ns/b', 'ns/c']);
});

test('an item being processed is not handed to a second worker, and comes back once after done', async () => {
  const q = queue();
  q.add('ns/a');
  const first = await q.get();
  assert.equal(first, 'ns/a');
  q.add('ns/a');
  q.add('ns/a');
  assert.equal(q.len(), 0, 'a processing item is only marked dirty');
  const second = q.get();
  assert.equal(await settled(second), false, 'a second worker must wait while ns/a is processing');
  q.done('ns/a');
  assert.equal(await second, 'ns/a', 'added during processing, so processed again after done');
  q.done('ns/a');
  assert.equal(q.len(), 0, 'two adds during processing cost one more run, not two');
});

test('an item done without being re-added is not processed again', async () => {
  const q = queue();
  q.add('ns/a');
  q.done((await q.get())!);
  assert.equal(q.len(), 0);
  assert.equal(await settled(q.get()), false);
});

test('waiting workers are each handed a different item, in order', async () => {
  const q = queue();
  const workers = [q.get(), q.get(), q.get()];
  q.add('ns/a');
  q.add('ns/b');
  assert.deepEqual(await Promise.all(workers.slice(0, 2)), ['ns/a', 'ns/b']);
  assert.equal(await settled(workers[2]!), false);
});

test('addAfter adds each item once its delay has passed, earliest first', async () => {
  const clock = new ManualClock();
  const q = queue(clock);
  q.addAfter('ns/slow', 30);
  q.addAfter('ns/fast', 10);
  q.addAfter('ns/middle', 20);
  q.addAfter('ns/now', 0);
  assert.deepEqual(await drain(q), ['ns/now']);
  clock.advance(9);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.deepEqual(await drain(q), ['ns/fast']);
  clock.advance(10);
  assert.deepEqual(await drain(q), ['ns/middle']);
  clock.advance(10);
  assert.deepEqual(await drain(q), ['ns/slow']);
  assert.equal(clock.pendingTimers(), 0);

  // items that become ready during one long pause come out in the order of their times, not of addAfter
  q.addAfter('ns/third', 300);
  q.addAfter('ns/first', 100);
  q.addAfter('ns/second', 200);
  clock.advance(1000);
  assert.deepEqual(await drain(q), ['ns/first', 'ns/second', 'ns/third']);
});

test('lanes: due items go first, then changes, then background ones, each lane in order', async () => {
  const q = queue();
  q.add('ns/listed-1', 'background');
  q.add('ns/new-1');
  q.add('ns/expiring-1', 'due');
  q.add('ns/listed-2', 'background');
  q.add('ns/new-2', 'change');
  q.add('ns/expiring-2', 'due');
  assert.deepEqual(await drain(q), ['ns/expiring-1', 'ns/expiring-2', 'ns/new-1', 'ns/new-2', 'ns/listed-1', 'ns/listed-2']);
});

test('lanes: an item added to a higher lane moves up, once; added to a lower one it stays where it is', async () => {
  const q = queue();
  for (const item of ['ns/a', 'ns/b', 'ns/c']) q.add(item, 'background');
  q.add('ns/x');
  q.add('ns/b', 'change');
  q.add('ns/x', 'background');
  assert.equal(q.len(), 4, 'moved, not queued twice');
  assert.deepEqual(await drain(q), ['ns/x', 'ns/b', 'ns/a', 'ns/c']);
});

test('lanes: an item added while processing is queued at done in the highest lane it was asked for', async () => {
  const q = queue();
  q.add('ns/a');
  const item = (await q.get())!;
  q.add('ns/a', 'background');
  q.add('ns/later');
  q.add('ns/a', 'due');
  q.done(item);
  assert.deepEqual(await drain(q), ['ns/a', 'ns/later']);
});

test('lanes: a delayed item comes out in its lane once its wait is over, ahead of changes when due, moved up if queued', async () => {
  const clock = new ManualClock();
  const q = queue(clock);
  q.addAfter('ns/expiring', 10, 'due');
  q.addAfter('ns/resync', 10, 'background');
  q.addAfter('ns/later', 20, 'due');
  for (const item of ['ns/new-1', 'ns/new-2', 'ns/later']) q.add(item);
  clock.advance(20);
  assert.deepEqual(await drain(q), ['ns/expiring', 'ns/later', 'ns/new-1', 'ns/new-2', 'ns/resync']);

  // scheduled twice without a deadline: the earlier time and the higher lane, whichever call brought each
  q.addAfter('ns/b', 5, 'background');
  q.addAfter('ns/b', 50, 'change');
  q.addAfter('ns/c', 5, 'change');
  q.add('ns/a', 'background');
  clock.advance(5);
  assert.deepEqual(await drain(q), ['ns/b', 'ns/c', 'ns/a']);
  clock.advance(100);
  assert.equal(q.len(), 0, 'the superseded entry adds nothing');
});

test('lanes: a deadline stands through an earlier wake-up: the item comes back at it, in due', async () => {
  const clock = new ManualClock();
  const q = queue(clock);
  q.addAfter('ns/grant', 100, 'due'); // its expiry
  q.addAfter('ns/grant', 10); // a failed reconcile's retry, before it
  clock.advance(10);
  assert.deepEqual(await drain(q), ['ns/grant'], 'the retry');
  q.addAfter('ns/grant', 5000); // failing again: a backoff that would outlive the expiry
  q.add('ns/other');
  clock.advance(90);
  assert.equal(q.len(), 2);
  assert.equal(await q.get(), 'ns/grant', 'at its deadline, ahead of a change');
  q.done('ns/grant');
  q.done((await q.get())!);
  clock.advance(10_000);
  assert.deepEqual(await drain(q), [], 'the earlier deadline took the backoff\'s place: the item waits once');
  clock.advance(100_000);
  assert.equal(q.len(), 0);

  // a deadline that comes first is taken once: a later request of any lane is met by that pass
  q.addAfter('ns/x', 10, 'due');
  q.addAfter('ns/x', 20, 'change');
  clock.advance(20);
  assert.deepEqual(await drain(q), ['ns/x']);
  clock.advance(100);
  assert.equal(q.len(), 0);
});

test('re-adding a waiting item keeps the earlier time: a short retry is never postponed by a long one', async () => {
  const clock = new ManualClock();
  const q = queue(clock);
  q.addAfter('ns/a', 100);
  q.addAfter('ns/a', 10);
  clock.advance(10);
  assert.deepEqual(await drain(q), ['ns/a']);
  clock.advance(200);
  assert.equal(q.len(), 0, 'the superseded 100 ms entry must not add it again');

  q.addAfter('ns/b', 50);
  q.addAfter('ns/b', 500);
  clock.advance(50);
  assert.deepEqual(await drain(q), ['ns/b']);
  clock.advance(1000);
  assert.equal(q.len(), 0, 'the later 500 ms request is absorbed by the earlier one');
});

test('addRateLimited backs off per item, and forget starts over', async () => {
  const clock = new ManualClock();
  const q = queue(clock);
  const waitOf = (item: string): number => {
    q.addRateLimited(item);
    let waited = 0;
    while (q.len() === 0) {
      clock.advance(1);
      waited += 1;
    }
    return waited;
  };
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    waits.push(waitOf('ns/a'));
    await drain(q);
  }
  assert.deepEqual(waits, [5, 10, 20, 40]);
  assert.equal(q.numRequeues('ns/a'), 4);
  q.forget('ns/a');
  assert.equal(q.numRequeues('ns/a'), 0);
  assert.equal(waitOf('ns/a'), 5);
});

test('shutdown wakes waiting workers with undefined, drops queued and waiting items and refuses adds', async () => {
  const idleQueue = queue();
  const idle = idleQueue.get();
  idleQueue.shutdown();
  assert.equal(await idle, undefined, 'a worker waiting for an item is told to exit');

  const clock = new ManualClock();
  const q = queue(clock);
  q.add('ns/a');
  assert.equal(await q.get(), 'ns/a');
  q.add('ns/a'); // dirty while processing
  q.add('ns/queued');
  q.addAfter('ns/waiting', 10);
  q.shutdown();
  assert.equal(q.len(), 0, 'queued items are dropped');
  assert.equal(clock.pendingTimers(), 0, 'waiting items are dropped');
  assert.equal(await q.get(), undefined);
  q.add('ns/c');
  q.addRateLimited('ns/d');
  q.done('ns/a');
  clock.advance(100);
  assert.equal(q.len(), 0, 'no adds after shutdown, and done does not requeue the dirty item');
  assert.equal(await q.get(), undefined);
});

test('shutdownWithDrain resolves only once every item handed out is done', async () => {
  const q = queue();
  q.add('ns/a');
  q.add('ns/b');
  const a = (await q.get())!;
  const b = (await q.get())!;
  const drained = q.shutdownWithDrain();
  assert.equal(await settled(drained), false);
  q.done(a);
  assert.equal(await settled(drained), false);
  q.done(b);
  assert.equal(await settled(drained), true);
  assert.equal(await settled(queue().shutdownWithDrain()), true, 'an idle queue drains at once');
});
