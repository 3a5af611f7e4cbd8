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

/** Remembers what was opened (and whether as joinable) and closed, with the reason. */
function memoryRecorder(): Recorder & { opened: SessionMetadata[]; joinable: boolean[]; closed: Array<[string, string]> } {
  const opened: SessionMetadata[] = [];
  const joinable: boolean[] = [];
  const closed: Array<[string, string]> = [];
  return {
    opened,
    joinable,
    closed,
    healthy: () => true,
    open(metadata, options) {
      opened.push(metadata);
      joinable.push(options?.joinable ?? false);
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
  assert.notEqual(again, first, 'a closed session is not reused…');
  assert.equal(again.id, first.id, '…but the invocation is the same session: its recording is another chain of it');
  assert.deepEqual(recorder.joinable, [true, true, true]);
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

function connectionRequest(socket: object): IncomingMessage {
  return { headers: { 'user-agent': 'curl/8' }, socket } as unknown as IncomingMessage;
}

test('a kubectl invocation is the same session in every gateway process; another token, subject, grant or invocation is another', () => {
  const clock = new ManualClock();
  const [zero, one] = [memoryRecorder(), memoryRecorder()];
  const [workerZero, workerOne] = [table(clock, zero), table(clock, one)];
  const id = workerZero.enter(kubectlRequest('a'), caller).id;
  assert.equal(workerOne.enter(kubectlRequest('a'), caller).id, id, 'the other process derives the same id');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID, version 8 (derived)');
  assert.deepEqual([...zero.joinable, ...one.joinable], [true, true], 'each opens its own chain of the session');
  const others = [
    workerOne.enter(kubectlRequest('b'), caller),
    workerOne.enter(kubectlRequest('a'), { ...caller, tokenId: 'token-2' }),
    workerOne.enter(kubectlRequest('a'), { ...caller, subject: { kind: 'User', name: 'someone-else' } }),
    workerOne.enter(kubectlRequest('a'), { ...caller, grant: { ...caller.grant, uid: 'uid-2' } }),
  ].map((session) => session.id);
  assert.equal(new Set([id, ...others]).size, 5);
});

test('a client without Kubectl-Session: a session per connection, with an id of its own in each process', () => {
  const clock = new ManualClock();
  const recorder = memoryRecorder();
  const [workerZero, workerOne] = [table(clock, recorder), table(clock, recorder)];
  const socket = { remoteAddress: '127.0.0.1' };
  const session = workerZero.enter(connectionRequest(socket), caller);
  assert.equal(workerZero.enter(connectionRequest(socket), caller), session, 'one connection, one session');
  assert.notEqual(workerZero.enter(connectionRequest({ remoteAddress: '127.0.0.1' }), caller).id, session.id, 'another connection, another session');
  assert.notEqual(workerOne.enter(connectionRequest(socket), caller).id, session.id, 'nothing ties the processes');
  assert.deepEqual(recorder.joinable, [false, false, false]);
});
