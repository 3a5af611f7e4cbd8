/**
 * The writers of a stream session (stream-session.ts): each takes every read of the session's one
 * reader, in order, and does one thing with it — record it, check its stdin against the policy, or
 * write it to the socket it goes to.
 */
import type { Duplex } from 'node:stream';
import type { StreamMasker } from '../policy/masking/masker.js';
import type { RecordEvent, SessionRecorder } from '../recording/recorder.js';
import type { StdinGuard } from './stdin-guard.js';
import type { Direction, StreamFrame, StreamRead } from './streams/frame.js';

/** One consumer of what the reader made of each chunk. */
export interface StreamWriter {
  /**
   * Takes one read. A returned promise is this writer's acknowledgement: the writers after it get this
   * read, and every later read of its direction, once it settles. It never rejects: a writer that
   * cannot go on ends the session itself.
   */
  write(read: StreamRead): Promise<void> | undefined;
}

/** What a writer may do to its session. */
export interface SessionControl {
  end(reason: string, notice?: string): void;
  /** Stops reading both sockets… */
  pause(): void;
  /** …and lifts that pause (a socket reads again once no other writer holds it either). */
  resume(): void;
}

/**
 * A socket's reading, paused while any writer holds it. The recorder (behind) and the socket writer
 * toward the other side (waiting for it to drain) pause it each on their own account, so that one's
 * resume never lifts the other's pause: a recorder settling its records would otherwise undo the drain
 * wait after every read, and a client that does not read would have the gateway buffer without bound.
 */
export class ReadHold {
  private holders = 0;

  constructor(private readonly socket: Duplex) {}

  hold(): void {
    if (this.holders++ === 0) this.socket.pause();
  }

  release(): void {
    if (this.holders > 0 && --this.holders === 0) this.socket.resume();
  }
}

/** What and how one stream is recorded. */
export interface StreamRecording {
  recorder: SessionRecorder;
  requestId: string;
  /** The policy's `onStoreFailure` is FailClosed: nothing is forwarded before it is recorded (invariant 7). */
  failClosed: boolean;
  /** Masks what is recorded of stdin (invariant 9); undefined where the policy leaves stdin out of the recording. */
  stdin?: StreamMasker;
  /** For `stream-open`: the negotiated protocol, and the exec command. */
  protocol: string;
  command?: string[];
}

/** Records waiting for the recorder beyond which both sockets pause, and below which they read again. */
const maxPendingRecords = 64;
const resumePendingRecords = 16;

/**
 * The recorder as a writer: every frame as read (stdin masked, or left out), then why the stream
 * ended. Under FailClosed a read's acknowledgement is its frames recorded; under Spool the recorder
 * acknowledges at once and pushes back by pausing the session while too many records are pending.
 * Whatever it fails to record ends the session.
 */
export class RecordingWriter implements StreamWriter {
  private pending = 0;
  private paused = false;

  constructor(
    private readonly recording: StreamRecording,
    private readonly session: SessionControl,
  ) {}

  /** `stream-open`; under FailClosed, its acknowledgement. */
  open(): Promise<void> | undefined {
    const { requestId, protocol, command } = this.recording;
    return this.acknowledgement([this.record({ type: 'stream-open', requestId, protocol, ...(command ? { command } : {}) })]);
  }

  write(read: StreamRead): Promise<void> | undefined {
    const recorded = read.frames.map((frame) => this.recordFrame(frame)).filter((record) => record !== undefined);
    // back-pressure: a recorder that falls behind slows the session instead of growing memory
    if (this.pending > maxPendingRecords && !this.paused) {
      this.paused = true;
      this.session.pause();
    }
    return recorded.length > 0 ? this.acknowledgement(recorded) : undefined;
  }

  decision(blocked: { rule: string; message: string }): void {
    void this.record({ type: 'decision', requestId: this.recording.requestId, action: 'Deny', rule: blocked.rule, message: blocked.message });
  }

  /** What stdin's masker still holds, then `stream-close` with the reason. */
  close(reason: string): void {
    const { stdin, requestId } = this.recording;
    if (stdin) this.recordData({ direction: 'client-to-server', channel: 'stdin' }, stdin.flush());
    void this.record({ type: 'stream-close', requestId, reason });
  }

  private recordFrame(frame: StreamFrame): Promise<void> | undefined {
    if (frame.direction !== 'client-to-server' || frame.channel !== 'stdin') return this.recordData(frame, frame.data);
    return this.recording.stdin && this.recordData(frame, this.recording.stdin.push(frame.data));
  }

  private recordData(frame: Pick<StreamFrame, 'direction' | 'channel' | 'port'>, data: Buffer): Promise<void> | undefined {
    if (data.length === 0) return undefined;
    const { direction, channel, port } = frame;
    return this.record({ type: 'stream', requestId: this.recording.requestId, direction, channel, data: data.toString('base64'), ...(port !== undefined ? { port } : {}) });
  }

  private acknowledgement(recorded: Promise<void>[]): Promise<void> | undefined {
    return this.recording.failClosed ? Promise.all(recorded).then(() => undefined) : undefined;
  }

  /** Settles once recorded, or once the failure to record has ended the session. */
  private record(event: RecordEvent): Promise<void> {
    this.pending++;
    return this.recording.recorder
      .record(event)
      .catch((error: Error) => this.session.end(`recording failed: ${error.message}`))
      .finally(() => {
        this.pending--;
        if (this.paused && this.pending < resumePendingRecords) {
          this.paused = false;
          this.session.resume();
        }
      });
  }
}

/** Client bytes the gate may hold while a line is undecided; beyond, the session ends. */
const maxHeldBytes = 1024 * 1024;

/**
 * Interactive stdin held to the policy (stdin-guard.ts), as the gate in front of the upstream socket:
 * the client's reads go on to `upstream` only while the guard says every stream's current line may
 * go; until then they are held, whole and in order, and let go together once it may. A refused line
 * ends the session, saying why, and what was held never reaches the container. Holding whole reads
 * keeps the upstream's view of the byte stream exact (nothing is re-framed); the cost is that a read
 * carrying an allowed line and the start of a refused-so-far one waits with it.
 */
export class StdinGuardWriter implements StreamWriter {
  private held: StreamRead[] = [];
  private heldBytes = 0;

  constructor(
    private readonly guard: Pick<StdinGuard, 'check'>,
    private readonly upstream: StreamWriter,
    private readonly recording: RecordingWriter,
    private readonly session: SessionControl,
  ) {}

  write(read: StreamRead): undefined {
    if (read.direction !== 'client-to-server') return;
    const verdict = this.guard.check(read.frames);
    if (verdict.blocked) {
      this.recording.decision(verdict.blocked);
      this.session.end(`stdin blocked by rule ${verdict.blocked.rule}`, `kubegate: ${verdict.blocked.message}`);
      return;
    }
    this.held.push(read);
    this.heldBytes += read.forward.length;
    if (verdict.release) {
      const released = this.held;
      this.held = [];
      this.heldBytes = 0;
      for (const each of released) this.upstream.write(each);
    } else if (this.heldBytes > maxHeldBytes) {
      this.session.end(`stdin held over ${maxHeldBytes} bytes for an undecided line`, 'kubegate: stdin line too long to decide');
    }
  }
}

/**
 * Bytes a socket may hold unsent before the socket its reads come from pauses until it drains. Not the
 * TLS socket's own mark (16 KiB, one TLS record): a bulk stream would pause and resume its source after
 * nearly every read.
 */
const maxUnsentBytes = 128 * 1024;

/** One socket, written with the bytes of the reads toward it; the socket they came from waits while it drains. */
export class SocketWriter implements StreamWriter {
  private draining = false;

  constructor(
    private readonly direction: Direction,
    private readonly to: Duplex,
    private readonly from: ReadHold,
  ) {}

  write(read: StreamRead): undefined {
    if (read.direction !== this.direction || read.forward.length === 0 || !this.to.writable) return;
    this.to.write(read.forward);
    // 'drain' comes once everything is sent, if a write found the socket past its own mark (writableNeedDrain)
    if (this.draining || this.to.writableLength <= maxUnsentBytes || !this.to.writableNeedDrain) return;
    this.draining = true;
    this.from.hold();
    this.to.once('drain', () => {
      this.draining = false;
      this.from.release();
    });
  }
}
