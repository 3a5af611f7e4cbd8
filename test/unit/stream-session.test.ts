/**
 * The stream session on in-memory socket pairs (kubectl ↔ gateway ↔ API server) over the WebSocket v5
 * channel protocol, with a recorder whose answers the test controls and time on a manual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplexPair, type Duplex } from 'node:stream';
import pino from 'pino';
import type { StdinGuard } from '../../src/gateway/stdin-guard.js';
import { StreamSession } from '../../src/gateway/stream-session.js';
import { decoderFor, type StreamFrame } from '../../src/gateway/streams/frame.js';
import { encodeChannelMessage } from '../../src/gateway/streams/websocket-channel.js';
import { encodeWebSocketFrame, opcodes } from '../../src/gateway/streams/websocket-frames.js';
import { Masker, outputIdleMs, passThroughStreamMasker, type StreamMasker } from '../../src/policy/masking/masker.js';
import type { RecordEvent, SessionRecorder } from '../../src/recording/recorder.js';
import { ManualClock } from '../harness/manual-clock.js';
import { withoutUncaughtExceptions } from '../harness/uncaught.js';

const subprotocol = 'v5.channel.k8s.io';
const masker = Masker.compile({ secrets: true, fields: [], patterns: ['AKIA[0-9A-Z]{16}'] });
const key = 'AKIAABCDEFGHIJKLMNOP';

/** kubectl's stdin: a masked client frame on channel 0. */
function stdin(text: string): Buffer {
  return encodeWebSocketFrame({ opcode: opcodes.binary, payload: Buffer.concat([Buffer.from([0]), Buffer.from(text)]), maskKey: Buffer.from([1, 2, 3, 4]) });
}

function stdout(text: string): Buffer {
  return encodeChannelMessage(subprotocol, 1, Buffer.from(text));
}

/** What kubectl reads on one channel from the bytes it got. */
function channelText(bytes: Buffer, channel: string): string {
  return decoderFor({ transport: 'websocket', subprotocol })
    .read('server-to-client', bytes, 0)
    .frames.filter((frame: StreamFrame) => frame.channel === channel)
    .map((frame) => frame.data.toString())
    .join('');
}

/** A recorder that keeps every event and answers as `answer` says (default: recorded at once). */
class TestRecorder implements SessionRecorder {
  readonly events: RecordEvent[] = [];
  constructor(private readonly answer: (event: RecordEvent) => Promise<void> = () => Promise.resolve()) {}

  record(event: RecordEvent): Promise<void> {
    this.events.push(event);
    return this.answer(event);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The recorded text of one channel and direction. */
  text(channel: string, direction = channel === 'stdin' ? 'client-to-server' : 'server-to-client'): string {
    return this.events
      .filter((event) => event.type === 'stream' && event.channel === channel && event.direction === direction)
      .map((event) => (event.type === 'stream' ? Buffer.from(event.data, 'base64').toString() : ''))
      .join('');
  }

  closes(): string[] {
    return this.events.flatMap((event) => (event.type === 'stream-close' ? [event.reason] : []));
  }
}

/** Everything a socket end receives. */
function received(socket: Duplex): () => Buffer {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks);
}

/** Lets pending callbacks and I/O run (several turns: acknowledgements chain through promises). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function openSession(options: { recorder?: TestRecorder; failClosed?: boolean; outputMasker?: Masker; stdin?: StreamMasker; blocked?: string; check?: StdinGuard['check']; kubectlReads?: boolean } = {}) {
  const [client, kubectl] = duplexPair();
  const [upstream, apiServer] = duplexPair();
  const recorder = options.recorder ?? new TestRecorder();
  const clock = new ManualClock();
  let ends = 0;
  const blocked = options.blocked;
  const session = new StreamSession({
    client,
    upstream,
    reader: decoderFor({ transport: 'websocket', subprotocol }, options.outputMasker ? { outputMasker: options.outputMasker } : {}),
    recording: { recorder, requestId: 'r1', failClosed: options.failClosed ?? false, stdin: options.stdin ?? masker.createStreamMasker(), protocol: `websocket ${subprotocol}` },
    guard: {
      check: options.check ?? ((frames) =>
        blocked !== undefined && frames.some((frame) => frame.channel === 'stdin' && frame.data.toString().includes(blocked))
          ? { blocked: { rule: 'no-rm', message: `"${blocked}" is not allowed` } }
          : { release: !frames.some((frame) => frame.channel === 'stdin' && frame.data.toString().endsWith('…')) }),
    },
    onEnd: () => ends++,
    logger: pino({ level: 'silent' }),
    clock,
  });
  const toKubectl = options.kubectlReads === false ? () => Buffer.alloc(0) : received(kubectl);
  const toApiServer = received(apiServer);
  session.start({ client: Buffer.alloc(0), upstream: Buffer.alloc(0) });
  return { session, client, upstream, kubectl, apiServer, recorder, clock, toKubectl, toApiServer, ends: () => ends };
}

test('frames go both ways as they came and are recorded, stdin masked; a closing side ends the session once', async () => {
  const s = openSession();
  s.kubectl.write(stdin(`export K=${key}\r`));
  s.apiServer.write(stdout('hello\n'));
  await settle();
  assert.deepEqual(s.toApiServer(), stdin(`export K=${key}\r`));
  assert.equal(channelText(s.toKubectl(), 'stdout'), 'hello\n');
  assert.equal(s.recorder.text('stdout'), 'hello\n');
  s.apiServer.end(stdout('bye\n'));
  await settle();
  assert.equal(channelText(s.toKubectl(), 'stdout'), 'hello\nbye\n', 'what the API server sent before it closed reaches kubectl');
  assert.ok(s.kubectl.readableEnded, "and so does the API server's half-close");
  assert.deepEqual(s.recorder.closes(), []);
  s.kubectl.end();
  await settle();
  assert.deepEqual(s.recorder.events[0], { type: 'stream-open', requestId: 'r1', protocol: `websocket ${subprotocol}` });
  assert.equal(s.recorder.text('stdin'), `export K=${'*'.repeat(key.length)}\r`, "stdin's held tail is recorded when the session ends");
  assert.deepEqual(s.recorder.closes(), ['closed']);
  assert.equal(s.recorder.events.at(-1)!.type, 'stream-close');
  assert.equal(s.ends(), 1);
  assert.ok(s.client.destroyed && s.upstream.destroyed);
});

test('end() is one method: idempotent, recorded once, both sockets closed, the timer cleared', async () => {
  const s = openSession({ outputMasker: masker });
  s.apiServer.write(stdout('$ '));
  await settle();
  assert.equal(s.clock.pendingTimers(), 1, 'output held back for a possible key waits for quiet');
  s.session.end('grant revoked', 'kubegate: the grant was revoked');
  s.session.end('policy changed');
  await settle();
  assert.deepEqual(s.recorder.closes(), ['grant revoked']);
  assert.equal(s.ends(), 1);
  assert.ok(s.client.destroyed && s.upstream.destroyed);
  assert.equal(s.clock.pendingTimers(), 0);
  assert.match(channelText(s.toKubectl(), 'error'), /the grant was revoked/, 'kubectl is told why');
});

test('masked output held back is released after outputIdleMs of quiet on the clock, recorded as sent', async () => {
  const s = openSession({ outputMasker: masker });
  s.apiServer.write(stdout(`key ${key.slice(0, 8)}`));
  await settle();
  assert.equal(channelText(s.toKubectl(), 'stdout'), '', 'a possible key is held back');
  s.clock.advance(outputIdleMs - 1);
  await settle();
  assert.equal(channelText(s.toKubectl(), 'stdout'), '');
  s.clock.advance(1);
  await settle();
  assert.equal(channelText(s.toKubectl(), 'stdout'), `key ${key.slice(0, 8)}`);
  s.apiServer.write(stdout(`${key}\n`));
  await settle();
  s.clock.advance(outputIdleMs);
  await settle();
  const sent = channelText(s.toKubectl(), 'stdout');
  assert.equal(sent, `key ${key.slice(0, 8)}${'*'.repeat(key.length)}\n`);
  assert.equal(s.recorder.text('stdout'), sent);
});

test('a blocked stdin line is not forwarded: the decision and the reason are recorded, kubectl is told, the session ends', async () => {
  const s = openSession({ blocked: 'rm -rf' });
  s.kubectl.write(stdin('ls\r'));
  await settle();
  s.kubectl.write(stdin('rm -rf /\r'));
  await settle();
  assert.deepEqual(s.toApiServer(), stdin('ls\r'));
  assert.ok(s.recorder.events.some((event) => event.type === 'decision' && event.action === 'Deny' && event.rule === 'no-rm'));
  assert.deepEqual(s.recorder.closes(), ['stdin blocked by rule no-rm']);
  assert.match(channelText(s.toKubectl(), 'error'), /kubegate: .*rm -rf.* is not allowed/);
  assert.ok(s.client.destroyed && s.upstream.destroyed);
  assert.equal(s.ends(), 1);
});

test('reads the guard holds wait, in order, until it lets them go; held reads of a refused line never go', async () => {
  const s = openSession({ blocked: 'rm -rf' });
  s.kubectl.write(stdin('ls\r'));
  await settle();
  s.kubectl.write(stdin('cat…'));
  await settle();
  assert.deepEqual(s.toApiServer(), stdin('ls\r'), 'an undecided line is held');
  s.kubectl.write(stdin(' /etc/hosts\r'));
  await settle();
  assert.deepEqual(s.toApiServer(), Buffer.concat([stdin('ls\r'), stdin('cat…'), stdin(' /etc/hosts\r')]), 'and goes on, in order, once decided');
  s.kubectl.write(stdin('echo…'));
  await settle();
  s.kubectl.write(stdin('; rm -rf /\r'));
  await settle();
  assert.deepEqual(s.toApiServer(), Buffer.concat([stdin('ls\r'), stdin('cat…'), stdin(' /etc/hosts\r')]));
  assert.deepEqual(s.recorder.closes(), ['stdin blocked by rule no-rm']);
  assert.ok(s.upstream.destroyed);
});

test('a line held beyond the bound ends the session instead of growing memory', async () => {
  const s = openSession();
  s.kubectl.write(stdin(`${'x'.repeat(600 * 1024)}…`));
  await settle();
  assert.deepEqual(s.recorder.closes(), []);
  s.kubectl.write(stdin(`${'x'.repeat(600 * 1024)}…`));
  await settle();
  assert.deepEqual(s.recorder.closes(), ['stdin held over 1048576 bytes for an undecided line']);
  assert.equal(s.toApiServer().length, 0);
});

test('a malformed frame ends the session with the reason', async () => {
  const s = openSession();
  s.apiServer.write(encodeWebSocketFrame({ opcode: opcodes.binary, payload: Buffer.from([1, 0x41]), maskKey: Buffer.from([1, 2, 3, 4]) }));
  await settle();
  assert.deepEqual(s.recorder.closes(), ['malformed server-to-client frame: masked websocket frame from the server']);
  assert.equal(s.toKubectl().length, 0);
  assert.ok(s.client.destroyed && s.upstream.destroyed);
});

test('FailClosed: while record() has not resolved, nothing is forwarded; once it has, everything is, in order', async () => {
  const waiting: (() => void)[] = [];
  const recorder = new TestRecorder(() => new Promise((resolve) => waiting.push(resolve)));
  const s = openSession({ recorder, failClosed: true, stdin: passThroughStreamMasker });
  s.kubectl.write(stdin('one\r'));
  s.apiServer.write(stdout('first\n'));
  await settle();
  assert.equal(s.toApiServer().length + s.toKubectl().length, 0, 'not even after stream-open, still unacknowledged');
  waiting.shift()!(); // stream-open
  await settle();
  assert.equal(s.toApiServer().length + s.toKubectl().length, 0, 'the frames themselves are not recorded yet');
  s.apiServer.write(stdout('second\n'));
  await settle();
  assert.equal(recorder.text('stdout'), 'first\n', 'a later read waits its turn');
  while (waiting.length > 0) {
    waiting.shift()!();
    await settle();
  }
  assert.equal(recorder.text('stdout'), 'first\nsecond\n');
  assert.deepEqual(s.toApiServer(), stdin('one\r'));
  assert.equal(channelText(s.toKubectl(), 'stdout'), 'first\nsecond\n');
  assert.deepEqual(recorder.closes(), []);
});

test('FailClosed: stdin the recording masker holds back for a possible secret goes ahead, and is recorded masked when let go', async () => {
  const waiting: (() => void)[] = [];
  const recorder = new TestRecorder(() => new Promise((resolve) => waiting.push(resolve)));
  const s = openSession({ recorder, failClosed: true });
  waiting.shift()!(); // stream-open
  await settle();
  s.kubectl.write(stdin(key.slice(0, 4)));
  await settle();
  assert.deepEqual(s.toApiServer(), stdin(key.slice(0, 4)), 'nothing of it is recorded yet: there is no record to wait for');
  s.kubectl.write(stdin(`${key.slice(4)}\r`));
  await settle();
  assert.equal(s.toApiServer().length, stdin(key.slice(0, 4)).length, 'the rest waits for its record');
  s.session.end('done');
  assert.equal(recorder.text('stdin'), `${'*'.repeat(key.length)}\r`);
});

test('FailClosed: a refused record ends the session, says why once, and what waited for it is never forwarded', async () => {
  const recorder = new TestRecorder((event) => (event.type === 'stream' ? Promise.reject(new Error('the store is down')) : Promise.resolve()));
  const s = openSession({ recorder, failClosed: true, stdin: passThroughStreamMasker });
  s.apiServer.write(Buffer.concat([stdout('secret\n'), stdout('more\n')]));
  s.kubectl.write(stdin('x'));
  await settle();
  assert.equal(s.toKubectl().length, 0);
  assert.equal(s.toApiServer().length, 0);
  assert.deepEqual(recorder.closes(), ['recording failed: the store is down']);
  assert.ok(s.client.destroyed && s.upstream.destroyed);
  assert.equal(s.ends(), 1);
});

test('Spool: frames are forwarded without waiting for the recorder, and a failure to record ends the session', async () => {
  let fail: (error: Error) => void = () => undefined;
  const recorder = new TestRecorder((event) => (event.type === 'stream' ? new Promise((_, reject) => (fail = reject)) : Promise.resolve()));
  const s = openSession({ recorder });
  s.apiServer.write(stdout('now\n'));
  await settle();
  assert.equal(channelText(s.toKubectl(), 'stdout'), 'now\n');
  fail(new Error('spool full'));
  await settle();
  assert.deepEqual(recorder.closes(), ['recording failed: spool full']);
  assert.ok(s.client.destroyed);
});

test("a client that does not read pauses the API server's socket: its unsent bytes stay bounded while every record settles", async () => {
  const s = openSession({ kubectlReads: false });
  const frame = stdout('x'.repeat(32 * 1024));
  for (let i = 0; i < 64; i++) s.apiServer.write(frame);
  await settle();
  assert.ok(s.upstream.isPaused(), "the API server's socket waits for kubectl's to drain");
  assert.ok(s.client.writableLength < 256 * 1024, `kubectl's socket holds ${s.client.writableLength} bytes unsent`);
  const toKubectl = received(s.kubectl);
  for (let i = 0; i < 20 && toKubectl().length < 64 * frame.length; i++) await settle();
  assert.deepEqual(toKubectl(), Buffer.concat(Array(64).fill(frame)), 'once kubectl reads, everything reaches it, in order');
  assert.equal(s.recorder.text('stdout').length, 64 * 32 * 1024, 'and everything was recorded');
});

test('a stream-open the recorder refuses ends the session instead of going unhandled', async () => {
  const recorder = new TestRecorder((event) => (event.type === 'stream-open' ? Promise.reject(new Error('refused')) : Promise.resolve()));
  const s = openSession({ recorder });
  await settle();
  assert.deepEqual(recorder.closes(), ['recording failed: refused']);
  assert.equal(s.ends(), 1);
});

test('a writer that throws ends that session with the reason recorded, and the process sees no uncaughtException', async () => {
  await withoutUncaughtExceptions(async () => {
    const s = openSession({
      check: () => {
        throw new TypeError('a bug in a writer');
      },
    });
    s.kubectl.write(stdin('ls\r'));
    await settle();
    assert.deepEqual(s.recorder.closes(), ['internal error: TypeError: a bug in a writer']);
    assert.equal(s.ends(), 1);
    assert.ok(s.client.destroyed && s.upstream.destroyed);
    assert.equal(s.toApiServer().length, 0, 'nothing of the read went on');
  });
});
