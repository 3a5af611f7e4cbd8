/**
 * The live feed's hub (primary) and publisher (worker), wired through an in-memory IPC channel that
 * delivers asynchronously as node:cluster does: the snapshot, the events after it, nothing sent while
 * nobody subscribes, a slow subscriber dropped, a dead worker's sessions ended, end-session fanned out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LiveHub, type LiveSink } from '../../src/gateway/live/hub.js';
import { LivePublisher } from '../../src/gateway/live/publisher.js';
import type { Recorder, SessionMetadata } from '../../src/recording/recorder.js';
import { ManualClock } from '../harness/manual-clock.js';

const logger = pino({ level: 'silent' });
/** Lets every message in flight arrive (each IPC hop is one turn of the event loop). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
}
const nullRecorder: Recorder = { healthy: () => true, open: () => ({ record: async () => undefined, close: async () => undefined }) };

function metadata(sessionId: string): SessionMetadata {
  return {
    sessionId,
    tokenId: 't',
    subject: { kind: 'User', name: 'deploy-bot' },
    grant: { namespace: 'gw', name: 'bot', uid: 'u' },
    policy: { namespace: 'gw', name: 'prod', version: 'v1' },
    client: {},
    startedAt: new Date(0).toISOString(),
  };
}

/** One worker: its publisher linked to `hub` through a channel that counts what the worker sends. */
function worker(hub: LiveHub, index: number, clock: ManualClock, options: { answers?: boolean } = {}) {
  let deliver: (message: unknown) => void = () => undefined;
  const link = hub.connect(index, (message) => void setImmediate(() => deliver(structuredClone(message))));
  const sent: unknown[] = [];
  const publisher = new LivePublisher({
    worker: index,
    logger,
    clock,
    channel: {
      send: (message, done) => {
        sent.push(message);
        setImmediate(() => {
          link.receive(structuredClone(message));
          done();
        });
      },
      onMessage: (listener) => (deliver = options.answers === false ? () => undefined : listener),
    },
  });
  const ended: Array<{ session: string; reason: string }> = [];
  publisher.attach({ endSession: (session, reason) => ended.push({ session, reason }) && 1 }, new Registry());
  link.serving();
  return { link, sent, ended, recorder: publisher.tee(nullRecorder) };
}

class Sink implements LiveSink {
  text = '';
  closed = false;
  backlog = 0;
  write(text: string): void {
    this.text += text;
  }
  buffered(): number {
    return this.backlog;
  }
  close(): void {
    this.closed = true;
  }
  events(): Array<{ type: string; data: Record<string, unknown> }> {
    return [...this.text.matchAll(/event: (\S+)\ndata: (.*)\n\n/g)].map(([, type, data]) => ({ type: type!, data: JSON.parse(data!) as Record<string, unknown> }));
  }
}

async function execIn(recorder: Recorder, session: string, requestId: string) {
  const recording = recorder.open(metadata(session));
  await recording.record({ type: 'request', requestId, method: 'GET', path: `/api/v1/namespaces/app/pods/shell/exec?command=sh&tty=true`, attributes: { verb: 'create', namespace: 'app', resource: 'pods', subresource: 'exec', name: 'shell', query: { command: ['sh'], tty: ['true'] } } });
  await recording.record({ type: 'decision', requestId, action: 'Allow', message: 'allowed' });
  await recording.record({ type: 'stream-open', requestId, protocol: 'v5.channel.k8s.io', command: ['sh'] });
  return recording;
}

test('a subscriber gets the sessions in progress of every worker, then their events; nothing is sent while nobody subscribes', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock });
  const [zero, one] = [worker(hub, 0, clock), worker(hub, 1, clock)];
  const first = zero.recorder.open(metadata('s0'));
  await execIn(one.recorder, 's1', 'r1');
  await first.record({ type: 'request', requestId: 'q', method: 'GET', path: '/api/v1/pods', attributes: { verb: 'list', resource: 'pods' } });
  assert.deepEqual([zero.sent.length, one.sent.length], [0, 0], 'no subscriber: nothing sent');

  const sink = new Sink();
  await hub.subscribe(sink);
  const [snapshot] = sink.events();
  assert.equal(snapshot!.type, 'snapshot');
  const sessions = snapshot!.data.sessions as Array<{ session: string; worker: number; streams: unknown[] }>;
  assert.deepEqual(sessions.map(({ session, worker: index }) => [session, index]).sort(), [['s0', 0], ['s1', 1]]);
  assert.deepEqual(sessions.find((session) => session.session === 's1')!.streams, [{ stream: 'r1', kind: 'exec', pod: 'shell', namespace: 'app', command: ['sh'] }]);

  await first.record({ type: 'request', requestId: 'd', method: 'DELETE', path: '/api/v1/namespaces/app', attributes: { verb: 'delete', namespace: 'app', resource: 'namespaces', name: 'app' } });
  await first.record({ type: 'decision', requestId: 'd', action: 'Deny', rule: 'no-namespace-deletion', message: 'denied' });
  await first.record({ type: 'response', requestId: 'd', status: 403, bodyBytes: 0, durationMs: 0 });
  await first.record({ type: 'stream', requestId: 'x', direction: 'server-to-client', channel: 'stdout', data: Buffer.from('hi\n').toString('base64') });
  await first.close('idle');
  await settle();
  assert.deepEqual(
    sink.events().slice(1).map(({ type, data }) => ({ type, ...data, time: undefined })),
    [
      { type: 'request', session: 's0', time: undefined, seq: 1, verb: 'delete', path: '/api/v1/namespaces/app', namespace: 'app', resource: 'namespaces', name: 'app', decision: 'Deny', rule: 'no-namespace-deletion', status: 403 },
      { type: 'stream-data', session: 's0', time: undefined, stream: 'x', channel: 'stdout', text: 'hi\n' },
      { type: 'session-end', session: 's0', time: undefined, reason: 'idle' },
    ],
  );
  assert.deepEqual(hub.snapshot().map((session) => session.session), ['s1']);
});

test('a subscriber that does not keep up is dropped, the others go on; with none left the workers stop sending', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock, maxBufferedBytes: 1000 });
  const zero = worker(hub, 0, clock);
  const [slow, fast] = [new Sink(), new Sink()];
  const unsubscribeFast = await hub.subscribe(fast);
  await hub.subscribe(slow);
  slow.backlog = 1000;
  const recording = zero.recorder.open(metadata('s'));
  await settle();
  assert.equal(slow.closed, true);
  assert.deepEqual(fast.events().map((event) => event.type), ['snapshot', 'session-start']);
  assert.equal(hub.subscriberCount(), 1);

  unsubscribeFast();
  await settle();
  const sent = zero.sent.length;
  await recording.record({ type: 'stream', requestId: 'x', direction: 'server-to-client', channel: 'stdout', data: 'aGk=' });
  await recording.close('idle');
  assert.equal(zero.sent.length, sent, 'nothing sent once nobody subscribes');
});

test('a worker that dies: its sessions leave the snapshot with a session-end; its missing answers are waited for no longer', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock, syncTimeoutMs: 2000 });
  const [zero, one] = [worker(hub, 0, clock), worker(hub, 1, clock)];
  await execIn(zero.recorder, 's0', 'r0');
  await execIn(one.recorder, 's1', 'r1');
  const sink = new Sink();
  await hub.subscribe(sink);
  one.link.exited();
  assert.deepEqual(hub.snapshot().map((session) => session.session), ['s0']);
  assert.deepEqual(sink.events().at(-1), { type: 'session-end', data: { session: 's1', time: new Date(0).toISOString(), reason: 'gateway worker exited' } });
  assert.equal(await hub.endSession('s0', 'alice'), 1);
  assert.deepEqual(zero.ended, [{ session: 's0', reason: 'ended by alice' }]);

  // a worker that never answers holds neither a new subscriber nor an end-session call past the timeout
  const silent = worker(hub, 2, clock, { answers: false });
  const ending = hub.endSession('s0', 'bob');
  await settle();
  clock.advance(2000);
  assert.equal(await ending, 1);
  assert.equal(silent.ended.length, 0);
});

test('the first subscriber after none waits for every worker’s snapshot, at most syncTimeoutMs', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock, syncTimeoutMs: 2000 });
  const zero = worker(hub, 0, clock);
  worker(hub, 1, clock, { answers: false });
  await execIn(zero.recorder, 's0', 'r0');
  const sink = new Sink();
  const subscribed = hub.subscribe(sink);
  await settle();
  assert.equal(sink.text, '', 'waiting for worker 1');
  clock.advance(2000);
  await subscribed;
  assert.deepEqual((sink.events()[0]!.data.sessions as Array<{ session: string }>).map((session) => session.session), ['s0']);
});

test('a malformed message from a worker is dropped, never thrown into the primary’s IPC listener', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock });
  const link = hub.connect(0, () => undefined);
  link.serving();
  const subscribed = hub.subscribe(new Sink());
  for (const message of [{ kind: 'kubegate-live-snapshot', generation: 1, sessions: null }, { kind: 'kubegate-live-snapshot', generation: 1 }]) assert.doesNotThrow(() => link.receive(message), JSON.stringify(message));
  link.receive({ kind: 'kubegate-live-snapshot', generation: 1, sessions: [] });
  await subscribed;
  for (const message of [{ kind: 'kubegate-live-event', event: null }, { kind: 'kubegate-live-event' }, { kind: 'kubegate-live-event', event: { type: 'session-end' } }]) assert.doesNotThrow(() => link.receive(message), JSON.stringify(message));
  assert.deepEqual(hub.snapshot(), []);
});

test('a session two workers record (one kubectl invocation over both) is one: one start, one snapshot entry with both streams, one end when the last closes', async () => {
  const clock = new ManualClock();
  const hub = new LiveHub({ logger, clock });
  const [zero, one] = [worker(hub, 0, clock), worker(hub, 1, clock)];
  const sink = new Sink();
  await hub.subscribe(sink);
  const first = await execIn(zero.recorder, 's', 'r0');
  await settle();
  const second = await execIn(one.recorder, 's', 'r1');
  await settle();
  assert.deepEqual(
    hub.snapshot().map(({ session, worker: index, streams }) => ({ session, worker: index, streams: streams.map((stream) => stream.stream) })),
    [{ session: 's', worker: 0, streams: ['r0', 'r1'] }],
  );
  await first.close('idle');
  await settle();
  assert.deepEqual(hub.snapshot().map(({ session, worker: index }) => [session, index]), [['s', 1]], 'still in progress in the other worker');
  await second.close('idle');
  await settle();
  const lifecycle = sink.events().filter((event) => event.type === 'session-start' || event.type === 'session-end');
  assert.deepEqual(lifecycle.map((event) => event.type), ['session-start', 'session-end']);
  assert.equal(sink.events().filter((event) => event.type === 'stream-open').length, 2, "each worker's events pass");
  assert.deepEqual(hub.snapshot(), []);
});
