/**
 * What exec, attach and port-forward over SPDY share: the client opens one SPDY stream per channel
 * with a SYN_STREAM whose headers say what the stream carries; data frames of that stream id then
 * belong to that channel, and a FIN from the side that writes a channel closes it (kubectl's stdin
 * at EOF). Each protocol module only says how headers map to a channel (`SpdyStreamProtocol`).
 *
 * Stream bookkeeping follows what the receiving end delivers — the kubelet's moby/spdystream
 * (v0.5.1; the API server passes SPDY bytes through untouched, over the WebSocket tunnel too) —
 * erring on the strict side, so that what is recorded and checked is what the container gets:
 * - data after a FIN from the same side is an error (Go may still deliver it); data for a stream
 *   that was reset or closed both ways is dropped (Go has forgotten the stream and drops it too);
 *   data for a stream that was never opened is an error (Go drops it).
 * - Go accepts a SYN_STREAM only with an id at least 2 above the last it accepted, of either parity,
 *   and none after a GOAWAY either way; a stream it refuses silently drops its data. kubectl opens
 *   streams 1, 3, 5… and the Kubernetes servers open none, so a SYN_STREAM from the server, with an
 *   even or a non-increasing id, after a GOAWAY, or unidirectional (Go then forgets it at the
 *   client's FIN) is an error.
 * - Go's reader blocks a stream's frames (and those of every stream sharing its worker) on a HEADERS
 *   frame until the stream ends, then drops them; kubectl and the kubelet never send one, nor does
 *   the client answer its own streams with SYN_REPLY: both are errors.
 * - The kubelet keeps the last exec stream of each type (`ctx.stdinStream = stream`) and leaves an
 *   earlier one unread, so a second stream of a type is an error where the protocol says so
 *   (`oneStreamPerChannel`: exec and attach; port-forward opens a pair per connection).
 *
 * With an output masker (exec and attach), every server frame is re-encoded, so the client's header
 * decompression follows the gateway's compressor from the first SYN_REPLY on; only the data frames of
 * output streams change content (masked-output.ts), and every other frame but pings and flow control
 * comes after the output held back before it.
 */
import type { Masker } from '../../policy/masking/masker.js';
import { ProtocolError } from './decoding.js';
import type { Direction, ProtocolDecoder, StreamChannel, StreamFrame, StreamLimits, StreamRead } from './frame.js';
import { MaskedOutput, outputChannels, Reframed } from './masked-output.js';
import { SpdyFrameEncoder, SpdyParser, type SpdyFrame, type SpdyHeaders } from './spdy-frames.js';

/** What a stream carries, decided from its SYN_STREAM headers. */
export interface SpdyStreamKind {
  channel: StreamChannel;
  /** The sides that write data on the stream; only their FIN closes the channel. */
  writers: readonly Direction[];
  /** port-forward: the remote port. */
  port?: number;
}

export interface SpdyStreamProtocol {
  /** The kind of a new stream; `ProtocolError` for a stream the protocol does not have. */
  classify(headers: SpdyHeaders): SpdyStreamKind;
  /** The channel on which the server reports failures… */
  errorChannel: StreamChannel;
  /** …and what it writes there for `message`. */
  errorPayload(message: string): Buffer;
  /** At most one stream per channel on a connection. */
  oneStreamPerChannel: boolean;
}

/** The one value of a header kubectl sends once, or `ProtocolError`. */
export function singleHeader(headers: SpdyHeaders, name: string): string {
  const values = headers.get(name);
  if (values?.length !== 1) throw new ProtocolError(`SPDY stream without exactly one "${name}" header`);
  return values[0]!;
}

interface OpenStream {
  kind: SpdyStreamKind;
  /** Sides that have not sent FIN yet. */
  open: Set<Direction>;
}

export const clientToServer: readonly Direction[] = ['client-to-server'];
export const serverToClient: readonly Direction[] = ['server-to-client'];
export const bothWays: readonly Direction[] = ['client-to-server', 'server-to-client'];

/** GOAWAY status OK: the gateway ends the connection, it does not report a peer's error. */
const goAwayOk = 0;

/** Output masking over SPDY: the masked streams, and the gateway's own encoder toward the client. */
interface SpdyOutput {
  masked: MaskedOutput<number>;
  streams: Set<number>;
  encoder: SpdyFrameEncoder;
}

export class SpdyStreamDecoder implements ProtocolDecoder {
  private readonly parsers: Record<Direction, SpdyParser>;
  private readonly streams = new Map<number, OpenStream>();
  /** Highest stream id the client opened so far (kubectl's are odd and increasing). */
  private highest = 0;
  /** The channels streams were opened for, with `oneStreamPerChannel`. */
  private readonly channelsOpened = new Set<StreamChannel>();
  /** A GOAWAY went either way: Go accepts no new stream after it. */
  private goneAway = false;
  private readonly output?: SpdyOutput;

  constructor(
    private readonly protocol: SpdyStreamProtocol,
    private readonly limits: StreamLimits,
    outputMasker?: Masker,
  ) {
    const options = { maxFrameBytes: limits.maxFrameBytes, maxHeaderBlockBytes: limits.maxHeaderBlockBytes };
    this.parsers = { 'client-to-server': new SpdyParser(options), 'server-to-client': new SpdyParser(options) };
    if (outputMasker) this.output = { masked: new MaskedOutput(outputMasker), streams: new Set(), encoder: new SpdyFrameEncoder() };
  }

  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead {
    const frames = this.parsers[direction].push(bytes);
    if (direction === 'server-to-client' && this.output) return this.reframe(frames, this.output, timeMs);
    return { direction, frames: frames.flatMap((frame) => this.decode(direction, frame, timeMs)), forward: bytes };
  }

  holding(): boolean {
    return this.output?.masked.holding() ?? false;
  }

  release(timeMs: number): StreamRead {
    const out = new Reframed();
    if (this.output) this.releaseInto(out, this.output, timeMs);
    return out.read();
  }

  private decode(direction: Direction, frame: SpdyFrame, timeMs: number): StreamFrame[] {
    const out: StreamFrame[] = [];
    switch (frame.type) {
      case 'syn_stream':
        this.open(direction, frame);
        if (frame.fin) this.finish(frame.streamId, direction, timeMs, out);
        break;
      case 'syn_reply':
        if (direction === 'client-to-server') throw new ProtocolError(`SPDY SYN_REPLY from the client for stream ${frame.streamId}`);
        if (frame.fin) this.finish(frame.streamId, direction, timeMs, out);
        break;
      case 'headers':
        throw new ProtocolError(`SPDY HEADERS frame on stream ${frame.streamId}`);
      case 'data': {
        const stream = this.stream(frame.streamId);
        if (!stream) break;
        if (!stream.open.has(direction)) throw new ProtocolError(`SPDY data on stream ${frame.streamId} after its FIN`);
        if (frame.data.length > 0) out.push(this.frame(direction, stream.kind.channel, frame.data, frame.streamId, timeMs));
        if (frame.fin) this.finish(frame.streamId, direction, timeMs, out);
        break;
      }
      case 'rst_stream':
        out.push(this.control(direction, { type: 'rst_stream', streamId: frame.streamId, status: frame.status }, frame.streamId, timeMs));
        this.streams.delete(frame.streamId);
        break;
      case 'goaway':
        this.goneAway = true;
        out.push(this.control(direction, { type: 'goaway', lastGoodStreamId: frame.lastGoodStreamId, status: frame.status }, undefined, timeMs));
        break;
      default: // SETTINGS, PING and WINDOW_UPDATE carry nothing worth recording
    }
    return out;
  }

  private reframe(frames: SpdyFrame[], output: SpdyOutput, timeMs: number): StreamRead {
    const out = new Reframed();
    for (const frame of frames) {
      if (frame.type === 'data' && output.streams.has(frame.streamId)) {
        const masked = output.masked.push(frame.streamId, frame.data);
        const tail = frame.fin ? [...output.masked.release(frame.streamId)].map(([, data]) => data) : [];
        const data = Buffer.concat([masked, ...tail]);
        const reframed = { ...frame, data };
        out.add(this.decode('server-to-client', reframed, timeMs), data.length > 0 || frame.fin ? output.encoder.encode(reframed) : Buffer.alloc(0));
        continue;
      }
      // flow control and pings do not order output; anything else (the exit status, a reset) comes after it
      if (frame.type !== 'ping' && frame.type !== 'window_update') this.releaseInto(out, output, timeMs);
      out.add(this.decode('server-to-client', frame, timeMs), output.encoder.encode(frame));
    }
    return out.read();
  }

  /** The output held back on every stream, as data frames of their streams. */
  private releaseInto(out: Reframed, output: SpdyOutput, timeMs: number): void {
    for (const [streamId, data] of output.masked.release()) {
      const frame: SpdyFrame = { type: 'data', streamId, fin: false, data };
      out.add(this.decode('server-to-client', frame, timeMs), output.encoder.encode(frame));
    }
  }

  /**
   * The failure written on every server-written error stream still open, each ended with FIN so that
   * kubectl reads it to the end, then GOAWAY. Data frames leave header compression untouched, so the
   * client's SPDY state stays valid.
   */
  closingNotice(message: string): Buffer {
    // re-framed output reaches the client as whole frames only: it is always at a frame boundary
    if (!this.output && !this.parsers['server-to-client'].atFrameBoundary()) return Buffer.alloc(0);
    const encoder = new SpdyFrameEncoder();
    const frames: Buffer[] = [];
    for (const [streamId, stream] of this.streams) {
      if (stream.kind.channel === this.protocol.errorChannel && stream.open.has('server-to-client')) {
        frames.push(encoder.encode({ type: 'data', streamId, fin: true, data: this.protocol.errorPayload(message) }));
      }
    }
    frames.push(encoder.encode({ type: 'goaway', lastGoodStreamId: this.highest, status: goAwayOk }));
    return Buffer.concat(frames);
  }

  private open(direction: Direction, frame: Extract<SpdyFrame, { type: 'syn_stream' }>): void {
    const { streamId } = frame;
    if (direction !== 'client-to-server') throw new ProtocolError(`SPDY stream ${streamId} opened by the server`);
    if (streamId % 2 === 0 || streamId <= this.highest) throw new ProtocolError(`SPDY stream ${streamId} opened out of order`);
    if (this.goneAway) throw new ProtocolError(`SPDY stream ${streamId} opened after GOAWAY`);
    if (frame.unidirectional) throw new ProtocolError(`unidirectional SPDY stream ${streamId}`);
    if (this.streams.size >= this.limits.maxOpenStreams) throw new ProtocolError(`more than ${this.limits.maxOpenStreams} SPDY streams open at once`);
    this.highest = streamId;
    const kind = this.protocol.classify(frame.headers);
    if (this.protocol.oneStreamPerChannel) {
      if (this.channelsOpened.has(kind.channel)) throw new ProtocolError(`a second SPDY ${kind.channel} stream`);
      this.channelsOpened.add(kind.channel);
    }
    this.streams.set(streamId, { kind, open: new Set(bothWays) });
    if (this.output && outputChannels.has(kind.channel)) this.output.streams.add(streamId);
  }

  /** The open stream, undefined for one already forgotten; `ProtocolError` for one never opened. */
  private stream(streamId: number): OpenStream | undefined {
    const stream = this.streams.get(streamId);
    if (!stream && (streamId % 2 === 0 || streamId > this.highest)) throw new ProtocolError(`SPDY frame for stream ${streamId}, which was never opened`);
    return stream;
  }

  private finish(streamId: number, direction: Direction, timeMs: number, out: StreamFrame[]): void {
    const stream = this.stream(streamId);
    if (!stream || !stream.open.delete(direction)) return;
    if (stream.kind.writers.includes(direction)) out.push(this.frame(direction, 'close', Buffer.from(stream.kind.channel), streamId, timeMs));
    if (stream.open.size === 0) this.streams.delete(streamId);
  }

  private frame(direction: Direction, channel: StreamChannel, data: Buffer, streamId: number, timeMs: number): StreamFrame {
    const port = this.streams.get(streamId)?.kind.port;
    return { direction, channel, data, stream: streamId, timeMs, ...(port !== undefined ? { port } : {}) };
  }

  private control(direction: Direction, event: object, streamId: number | undefined, timeMs: number): StreamFrame {
    const data = Buffer.from(JSON.stringify(event));
    return streamId === undefined ? { direction, channel: 'control', data, timeMs } : this.frame(direction, 'control', data, streamId, timeMs);
  }
}
