/**
 * One upgraded exec, attach or port-forward stream, after the 101: the client socket, the upstream
 * socket, and the protocol's one reader (streams/frame.ts), whose every read feeds a list of writers
 * (stream-writers.ts) in order — the recorder, then the sockets, each taking the reads toward it, the
 * upstream socket behind the stdin guard. As in Teleport's lib/kube/proxy/sess.go, the recorder is one
 * more writer of the session, and its failure ends the session.
 *
 * What a session guarantees:
 *  - One reader: each chunk a socket delivers is read once, as it arrives; the recorder, the guard and
 *    the other socket all take what that read made of it (masked output re-framed included).
 *  - Order: the reads of one direction reach the writers in the order they were read. A writer's
 *    acknowledgement holds back the writers after it, for that read and every later read of its
 *    direction. Under a FailClosed policy the recorder acknowledges a read once all its frames are
 *    recorded (and the first reads once `stream-open` is), so the chunk that completes a frame reaches
 *    the other side only after that frame's `record()` resolved (invariant 7); a refusal ends the
 *    session and nothing behind it is forwarded. The gate holds whole chunks: bytes of a frame still
 *    incomplete at the end of a chunk go ahead with that chunk. Stdin that the recording's masker holds
 *    back for a possible secret (less than the longest pattern match) goes ahead too, and is recorded
 *    when the masker lets it go (with later input, or at the end): holding keystrokes until then would
 *    stall a shell, and letting them go sooner would record a secret typed key by key in clear text.
 *  - Held stdin: the client's reads reach the upstream only while the stdin guard says every stdin
 *    line as it stands would be allowed if it ran (stdin-guard.ts); until then they wait, whole and in
 *    order, behind the recorder (they are recorded as read), and a refused line ends the session with
 *    them never forwarded.
 *  - One end: `end(reason, notice)` is the only way a session ends, whatever the reason (a socket
 *    closed or failed, a malformed frame, a blocked stdin line, a recording failure, and any caller
 *    that holds the session: a revoked grant, a changed policy). It runs once: it records
 *    `stream-close` with the reason, writes the notice to the client when that cannot break a frame,
 *    closes both sockets, clears the timer and lets the request go from the session table. A socket that
 *    closes of itself ends the session once what it sent has been written to the other side.
 *  - Masked output held back for a possible match is released after `outputIdleMs` of quiet, on the
 *    injected clock.
 *  - An error boundary (guarded.ts): every listener, timer and queued step of the session runs guarded,
 *    so that an unexpected exception in the session's code ends this session (`fail`: logged with its
 *    stack, `internal error: …` recorded) and never the process.
 */
import { finished, type Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { outputIdleMs } from '../policy/masking/masker.js';
import { realClock, type Clock } from '../runtime/reconciler.js';
import { guarded, internalErrorReason } from './guarded.js';
import type { StdinGuard } from './stdin-guard.js';
import { ReadHold, RecordingWriter, SocketWriter, StdinGuardWriter, type SessionControl, type StreamRecording, type StreamWriter } from './stream-writers.js';
import { ProtocolError, type Direction, type StreamDecoder, type StreamRead } from './streams/frame.js';

export type { StreamRecording } from './stream-writers.js';

export interface StreamSessionOptions {
  client: Duplex;
  upstream: Duplex;
  /** The negotiated protocol's reader (`decoderFor`). */
  reader: StreamDecoder;
  recording: StreamRecording;
  guard: Pick<StdinGuard, 'check'>;
  /** Called once, when the session ends (the gateway's session table lets the request go). */
  onEnd(): void;
  logger: Logger;
  /** Default: real time. */
  clock?: Clock;
}

export class StreamSession {
  private readonly clock: Clock;
  private readonly recorder: RecordingWriter;
  private readonly writers: readonly StreamWriter[];
  /** Per direction, the last step still waiting on an acknowledgement; later steps queue behind it. */
  private readonly queues: Record<Direction, Promise<void> | undefined> = { 'client-to-server': undefined, 'server-to-client': undefined };
  private releaseTimer: unknown;
  private ended = false;
  /** `fn` inside this session's error boundary. */
  private readonly guard = <A extends unknown[], R>(fn: (...args: A) => R) => guarded((error) => this.fail(error), fn);

  constructor(private readonly options: StreamSessionOptions) {
    this.clock = options.clock ?? realClock;
    const { client, upstream } = options;
    const reading = { client: new ReadHold(client), upstream: new ReadHold(upstream) };
    const control: SessionControl = {
      end: (reason, notice) => this.end(reason, notice),
      pause: () => [reading.client, reading.upstream].forEach((hold) => hold.hold()),
      resume: () => [reading.client, reading.upstream].forEach((hold) => hold.release()),
    };
    this.recorder = new RecordingWriter(options.recording, control);
    this.writers = [
      this.recorder,
      new StdinGuardWriter(options.guard, new SocketWriter('client-to-server', upstream, reading.client), this.recorder, control),
      new SocketWriter('server-to-client', client, reading.upstream),
    ];
  }

  /** Records `stream-open` and relays both ways, starting with what each side sent along with the upgrade. */
  start(heads: { client: Buffer; upstream: Buffer }): void {
    const opened = this.recorder.open();
    if (opened) for (const direction of Object.keys(this.queues) as Direction[]) this.inOrder(direction, () => opened);
    this.relay('server-to-client', this.options.upstream, this.options.client);
    this.relay('client-to-server', this.options.client, this.options.upstream);
    this.receive('server-to-client', heads.upstream);
    this.receive('client-to-server', heads.client);
  }

  /**
   * Ends the session, once: records why, closes both sockets. `notice` is written to the client first
   * (as the protocol's error, see `closingNotice`) unless output still waiting for its record means
   * the client may be inside a frame.
   */
  end(reason: string, notice?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clock.clearTimeout(this.releaseTimer);
    const { client, upstream, reader } = this.options;
    try {
      this.recorder.close(reason);
      const bytes = notice === undefined || this.queues['server-to-client'] ? Buffer.alloc(0) : reader.closingNotice(notice);
      if (bytes.length > 0 && client.writable) client.write(bytes);
    } finally {
      // whatever failed above, the sockets close and the request leaves the table
      client.destroy();
      upstream.destroy();
      this.options.onEnd();
    }
  }

  /** The session's code threw where nothing expected it: this session ends, the error is logged with its stack. */
  fail(error: unknown): void {
    this.options.logger.error({ err: error }, 'stream session failed: a bug in the gateway; ending this session');
    this.end(internalErrorReason(error));
  }

  private relay(direction: Direction, from: Duplex, to: Duplex): void {
    const side = direction === 'client-to-server' ? 'client' : 'upstream';
    from.on('data', this.guard((chunk: Buffer) => this.receive(direction, chunk)));
    from.on('end', this.guard(() => this.inOrder(direction, () => void to.end())));
    from.on('error', this.guard((error: Error) => this.end(`${side} error: ${error.message}`)));
    from.on(
      'close',
      this.guard(() =>
        this.inOrder(direction, () => {
          if (this.ended) return;
          to.end();
          finished(to, { readable: false }, this.guard(() => this.end('closed')));
        }),
      ),
    );
  }

  /** Reads one chunk and hands the read to the writers; a malformed frame ends the session. */
  private receive(direction: Direction, chunk: Buffer): void {
    if (this.ended) return;
    let read: StreamRead;
    try {
      read = this.options.reader.read(direction, chunk, this.clock.now());
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.logger.warn({ err: error, direction }, 'malformed stream frame: ending this session');
      this.end(`malformed ${direction} frame: ${error.message}`);
      return;
    }
    this.inOrder(direction, () => this.feed(read));
    if (direction === 'server-to-client') this.scheduleRelease();
  }

  /** Output held back for a possible match goes to the client once output has paused `outputIdleMs`. */
  private scheduleRelease(): void {
    this.clock.clearTimeout(this.releaseTimer);
    if (!this.options.reader.holding()) return;
    this.releaseTimer = this.clock.setTimeout(
      this.guard(() => {
        const read = this.options.reader.release(this.clock.now());
        this.inOrder('server-to-client', () => this.feed(read));
      }),
      outputIdleMs,
    );
  }

  /** Hands `read` to the writers from `first` on; an acknowledgement holds back the writers after it. */
  private feed(read: StreamRead, first = 0): Promise<void> | undefined {
    for (let i = first; i < this.writers.length; i++) {
      if (this.ended) return undefined;
      const acknowledged = this.writers[i]!.write(read);
      if (acknowledged) return acknowledged.then(() => this.feed(read, i + 1));
    }
    return undefined;
  }

  /** Runs `step` once every earlier step of `direction` has settled (at once when none is waiting). */
  private inOrder(direction: Direction, step: () => Promise<void> | undefined): void {
    const before = this.queues[direction];
    const guardedStep = this.guard(step);
    const waiting = before ? before.then(guardedStep) : guardedStep();
    if (!waiting) return;
    const tail: Promise<void> = waiting.then(() => {
      if (this.queues[direction] === tail) this.queues[direction] = undefined;
    });
    this.queues[direction] = tail;
  }
}
