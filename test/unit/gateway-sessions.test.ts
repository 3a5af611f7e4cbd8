/**
 * The gateway's session table on a manual clock: one session per kubectl invocation of a token, opened
 * with its recording on first use, closed as `idle` once no request has run for `idleMs` (never while a
 * request — an exec — still runs), and all closed, timer included, when the gateway stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { caller } from '../harness/forwarding.js';
import { SessionTable } from '../../src/gateway/sessions.js';
import type { Recorder, SessionMetadata } from '../../src/recording/recorder.js';
import { ManualClock } from '../harness/manual-clock.js';

/** Remembers what was opened and closed, with the reason. */
function memoryRecorder(): Recorder & { opened: SessionMetadata[]; closed: Array<[string, string]> } {
  const opened: SessionMetadata[] = [];
  const closed: Array<[string, string]> = [];
  return {
    opened,
    closed,
    healthy: () => true,
    open(metadata) {
      opened.push(metadata);
      return { record: async () => undefined, close: async (reason) => void closed.push([metadata.sessionId, reason]) };
    },
  };
}

function kubectlRequest(invocation: string): IncomingMessage {
  return { headers: { 'kubectl-session': invocation, 'user-agent': 'kubectl/v1.35.0' }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
}

function table(clock: ManualClock, recorder: Recorder) {
  return new SessionTable({ recorder, policy: () => ({ namespace: 'kubegate-system', name: 'prod', version: 'v1' }), idleMs: 60_000, clock });
}

test('one session per invocation, started at the clock time; idle ones close after idleMs, busy ones stay open', async () => {
  const clock = new ManualClock();
  clock.advance(1_000);
  const recorder = memoryRecorder();
  const sessions = table(clock, recorder);

  const first = sessions.enter(kubectlRequest('a'), caller);
  sessions.leave(first);
  assert.equal(sessions.enter(kubectlRequest('a'), caller), first, 'the same invocation is the same session');
  sessions.leave(first);
  const exec = sessions.enter(kubectlRequest('b'), caller);
  assert.notEqual(exec.id, first.id);
  assert.deepEqual(recorder.opened.map((m) => m.startedAt), [new Date(1_000).toISOString(), new Date(1_000).toISOString()]);

  clock.advance(60_000);
  assert.deepEqual(recorder.closed, [], 'not idle for more than idleMs yet');
  clock.advance(10_000);
  assert.deepEqual(recorder.closed, [[first.id, 'idle']]);
  clock.advance(10 * 60_000);
  assert.deepEqual(recorder.closed, [[first.id, 'idle']], 'a running exec keeps its session however long it idles');

  sessions.leave(exec);
  clock.advance(60_000);
  assert.deepEqual(recorder.closed, [[first.id, 'idle']], 'idle counts from the end of the last request');
  clock.advance(10_000);
  assert.deepEqual(recorder.closed, [[first.id, 'idle'], [exec.id, 'idle']]);

  const again = sessions.enter(kubectlRequest('a'), caller);
  assert.notEqual(again.id, first.id, 'a closed session is not reused');
  await sessions.closeAll('gateway stopped');
  assert.deepEqual(recorder.closed.at(-1), [again.id, 'gateway stopped']);
  assert.equal(clock.pendingTimers(), 0, 'no sweep after the gateway stopped');
});

test('a request in a session keeps it open for another idleMs', () => {
  const clock = new ManualClock();
  const recorder = memoryRecorder();
  const sessions = table(clock, recorder);
  const session = sessions.enter(kubectlRequest('a'), caller);
  sessions.leave(session);
  clock.advance(50_000);
  sessions.leave(sessions.enter(kubectlRequest('a'), caller));
  clock.advance(60_000);
  assert.deepEqual(recorder.closed, [], 'used 60 s ago, not more');
  clock.advance(10_000);
  assert.deepEqual(recorder.closed, [[session.id, 'idle']]);
});
