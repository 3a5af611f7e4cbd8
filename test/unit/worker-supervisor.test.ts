/**
 * The gateway's process supervisor on fake workers and a manual clock: a worker that dies is replaced
 * under the same index and the others are left alone; workers dying in a loop are replaced after a
 * growing wait; stop signals every worker and resolves once all have exited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { crashLoopDeaths, crashWindowMs, maxRespawnDelayMs, respawnDelay, WorkerSupervisor, type WorkerProcess } from '../../src/runtime/worker-supervisor.js';
import { ManualClock } from '../harness/manual-clock.js';

class FakeWorker implements WorkerProcess {
  readonly signals: string[] = [];
  private listener?: (code: number | null, signal: string | null) => void;
  constructor(
    readonly index: number,
    readonly pid: number,
  ) {}
  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.listener = listener;
  }
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
  }
  die(code: number | null, signal: string | null = null): void {
    this.listener!(code, signal);
  }
}

function supervised(workers: number) {
  const clock = new ManualClock();
  const forked: FakeWorker[] = [];
  const supervisor = new WorkerSupervisor({ workers, logger: pino({ enabled: false }), clock, fork: (index) => forked[forked.push(new FakeWorker(index, 100 + forked.length)) - 1]! });
  supervisor.start();
  return { clock, forked, supervisor };
}

test('a worker that dies is replaced under its index at once; the others are not touched', () => {
  const { forked, supervisor } = supervised(2);
  assert.deepEqual([...supervisor.pids()], [[0, 100], [1, 101]]);
  forked[1]!.die(null, 'SIGKILL');
  assert.deepEqual([...supervisor.pids()], [[0, 100], [1, 102]]);
  assert.equal(forked[2]!.index, 1, 'the replacement takes the dead worker’s index (and so its spool)');
  assert.deepEqual(forked[0]!.signals, [], 'the other worker got no signal');
});

test('workers dying in a loop are replaced after a wait that grows, at most the cap', () => {
  const { clock, forked, supervisor } = supervised(1);
  for (let death = 1; death < crashLoopDeaths; death++) forked.at(-1)!.die(1);
  assert.equal(forked.length, crashLoopDeaths, 'the first deaths are replaced at once');
  forked.at(-1)!.die(1);
  assert.equal(supervisor.pids().size, 0, 'the fifth death within the window waits');
  clock.advance(999);
  assert.equal(forked.length, crashLoopDeaths);
  clock.advance(1);
  assert.equal(forked.length, crashLoopDeaths + 1, 'replaced after 1 s');
  assert.equal(respawnDelay([0, 1, 2, 3, 4, 5], 6), 2000, 'the wait doubles per further death');
  assert.equal(respawnDelay(Array.from({ length: 40 }, (_, i) => i), 40), maxRespawnDelayMs);
  assert.equal(respawnDelay([0, 1, 2, 3, crashWindowMs + 10], crashWindowMs + 10), 0, 'deaths older than the window do not count');
});

test('stop signals every worker, replaces none, and resolves once all have exited', async () => {
  const { forked, supervisor } = supervised(2);
  let stopped = false;
  const stopping = supervisor.stop().then(() => (stopped = true));
  assert.deepEqual(
    forked.map((worker) => worker.signals),
    [['SIGTERM'], ['SIGTERM']],
  );
  forked[0]!.die(0);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(stopped, false, 'one worker is still draining');
  forked[1]!.die(0);
  await stopping;
  assert.equal(forked.length, 2, 'no replacement while stopping');
});
