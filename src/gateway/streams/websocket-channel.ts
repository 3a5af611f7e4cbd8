/**
 * The Kubernetes channel protocol over WebSocket (apimachinery `wsstream`): every data message is
 * one channel byte followed by the payload. Binary subprotocols carry the channel as a number and the
 * payload raw; the base64 ones carry the channel as an ASCII digit and the payload base64-encoded.
 * `v5.channel.k8s.io` adds the half-close signal `[255, channel]` (kubectl's stdin at EOF). For exec
 * and attach the channels are 0 stdin, 1 stdout, 2 stderr, 3 error (a `metav1.Status` JSON from v4
 * on, plain text before) and 4 resize (`{"Width","Height"}`).
 *
 * How the receiving end reads, and so how this reader must read (Kubernetes 1.35 sources):
 * - Client frames are read by apimachinery's `wsstream.Conn` on top of `golang.org/x/net/websocket`:
 *   in the API server for v5 (the stream translator), in the kubelet for every older subprotocol (the
 *   API server proxies those bytes untouched). `websocket.Message.Receive` takes each data frame as
 *   one whole message whatever its FIN bit says: a continuation frame is a message of its own, whose
 *   first byte is read as a channel byte. A reader that joins fragments (RFC 6455, gorilla) reads a
 *   different stream: `[4 resize… FIN=0]` + `[continuation 00 "rm -rf /data\n"]` is one resize
 *   message to it and a resize plus a stdin line to the API server. Neither reading is safe to follow
 *   for every client, and none needs it: kubectl writes each message with gorilla's `NextWriter`
 *   into a 33 KiB write buffer and never more than 32 KiB + 1 byte at once (client-go), so its
 *   messages are single frames; x/net writes every server message as one frame. So on these
 *   subprotocols a data frame with FIN=0, or a continuation frame, is a `ProtocolError`, in both
 *   directions; what remains reads the same under both readings. Unknown opcodes (x/net reads them
 *   as data), reserved bits (x/net ignores them), fragmented or long control frames (x/net accepts
 *   them) are refused by the frame parser for the same reason.
 * - An empty message is dropped by the server; so it has no content here.
 * - After the v5 half-close of a channel the server drops what arrives on it (the pipe is closed),
 *   and it never reads the client's messages on the channels it only writes: such messages are
 *   refused here rather than recorded as stdin the container never got.
 */
import type { Masker } from '../../policy/masking/masker.js';
import { forbiddenStatus, ProtocolError } from './decoding.js';
import type { Direction, ProtocolDecoder, StreamChannel, StreamFrame, StreamLimits, StreamRead } from './frame.js';
import { MaskedOutput, outputChannels, Reframed } from './masked-output.js';
import { closePayload, controlFrame, encodeWebSocketFrame, normalClosure, opcodes, WebSocketTap } from './websocket-frames.js';

/** How a subprotocol frames channel messages. */
export interface ChannelCodec {
  base64: boolean;
  /** `[255, channel]` closes a channel (v5). */
  streamClose: boolean;
  /** The error channel carries a `metav1.Status` (v4 and later) rather than plain text. */
  statusErrors: boolean;
}

const binary = { base64: false, streamClose: false, statusErrors: false };
const base64 = { base64: true, streamClose: false, statusErrors: false };

/** The subprotocols the API server and kubelet serve for exec, attach and channel port-forward. */
const channelCodecs = new Map<string, ChannelCodec>([
  ['', binary],
  ['channel.k8s.io', binary],
  ['base64.channel.k8s.io', base64],
  ['v4.channel.k8s.io', { ...binary, statusErrors: true }],
  ['v4.base64.channel.k8s.io', { ...base64, statusErrors: true }],
  ['v5.channel.k8s.io', { base64: false, streamClose: true, statusErrors: true }],
]);

export function channelCodec(subprotocol: string): ChannelCodec {
  const codec = channelCodecs.get(subprotocol);
  if (!codec) throw new ProtocolError(`unsupported websocket subprotocol "${subprotocol}"`);
  return codec;
}

/** The first byte of the v5 half-close signal. */
const streamCloseByte = 255;

/**
 * As Go's base64.StdEncoding reads it: padded, line breaks skipped, anything else an error (Node's
 * decoder would skip invalid characters instead). Checked without a quantified regular expression,
 * which overflows V8's backtracking stack on a message of a few megabytes.
 */
function decodeBase64(text: Buffer): Buffer {
  const clean = text.toString('latin1').replace(/[\r\n]/g, '');
  const padding = clean.indexOf('=');
  const valid =
    clean.length % 4 === 0 &&
    !/[^A-Za-z0-9+/=]/.test(clean) &&
    (padding === -1 || (padding >= clean.length - 2 && /^=+$/.test(clean.slice(padding))));
  if (!valid) throw new ProtocolError('channel message is not valid base64');
  return Buffer.from(clean, 'base64');
}

/** A data message's meaning: a channel's payload, or (v5) the half-close of a channel. */
export type ChannelContent = { kind: 'message'; channel: number; data: Buffer } | { kind: 'close'; channel: number };

/**
 * One data message or control frame, as it came — `opcode` and unmasked
 * `payload`, for a reader that re-encodes it — and what it says: `content` for a non-empty data
 * message, `control` for a control frame worth recording (a close).
 */
export interface ChannelEvent {
  opcode: number;
  payload: Buffer;
  content?: ChannelContent;
  control?: StreamFrame;
}

/**
 * WebSocket bytes of both directions → channel messages, half-close signals and control frames, in
 * order. Every data message is one frame (see above); an empty message has no content, as the server
 * drops it. A message on a channel its writer has half-closed is a `ProtocolError`.
 */
export class ChannelMessageReader {
  private readonly tap: WebSocketTap;
  private readonly closed: Record<Direction, Set<number>> = { 'client-to-server': new Set(), 'server-to-client': new Set() };

  constructor(
    private readonly codec: ChannelCodec,
    limits: StreamLimits,
  ) {
    this.tap = new WebSocketTap(limits, { fragmentedMessages: false });
  }

  push(direction: Direction, bytes: Buffer, timeMs: number): ChannelEvent[] {
    const events: ChannelEvent[] = [];
    for (const frame of this.tap.push(direction, bytes)) {
      if (frame.opcode >= opcodes.close) {
        const control = controlFrame(frame, direction, timeMs);
        events.push({ opcode: frame.opcode, payload: frame.payload, ...(control ? { control } : {}) });
        continue;
      }
      const content = decodeChannelMessage(this.codec, frame.payload);
      if (content && this.closed[direction].has(content.channel)) throw new ProtocolError(`websocket message on channel ${content.channel} after its close signal`);
      if (content?.kind === 'close') this.closed[direction].add(content.channel);
      events.push({ opcode: frame.opcode, payload: frame.payload, ...(content ? { content } : {}) });
    }
    return events;
  }

  /** Whether the gateway may inject a message toward the client now. */
  canInject(): boolean {
    return this.tap.canInject();
  }
}

/** One data message: a channel's payload or (v5) the half-close of a channel; undefined when empty. */
function decodeChannelMessage(codec: ChannelCodec, message: Buffer): ChannelContent | undefined {
  if (message.length === 0) return undefined;
  if (codec.streamClose && message[0] === streamCloseByte) {
    if (message.length !== 2) throw new ProtocolError('stream close signal must name exactly one channel');
    return { kind: 'close', channel: message[1]! };
  }
  const channel = codec.base64 ? (message[0]! - 0x30) & 0xff : message[0]!;
  const payload = message.subarray(1);
  return { kind: 'message', channel, data: codec.base64 ? decodeBase64(payload) : payload };
}

/**
 * One server-to-client WebSocket frame carrying `data` on `channel`: binary for the binary
 * subprotocols, text for the base64 ones.
 */
export function encodeChannelMessage(subprotocol: string, channel: number, data: Buffer): Buffer {
  const codec = channelCodec(subprotocol);
  const payload = codec.base64
    ? Buffer.from(String.fromCharCode(0x30 + channel) + data.toString('base64'), 'latin1')
    : Buffer.concat([Buffer.from([channel]), data]);
  return encodeWebSocketFrame({ opcode: codec.base64 ? opcodes.text : opcodes.binary, payload });
}

/** The error channel's content for `message`: a Status from v4 on, plain text before. */
function errorChannelPayload(codec: ChannelCodec, message: string): Buffer {
  return codec.statusErrors ? forbiddenStatus(message) : Buffer.from(message);
}

/** A close frame with code 1000, so kubectl reports what the error channel said rather than the close. */
export function encodeNormalClose(): Buffer {
  return encodeWebSocketFrame({ opcode: opcodes.close, payload: closePayload(normalClosure) });
}

const execChannels: readonly StreamChannel[] = ['stdin', 'stdout', 'stderr', 'error', 'resize'];
const errorChannel = 3;
/** The channels the server reads; it drops a client's messages on any other. */
const clientChannels: ReadonlySet<StreamChannel> = new Set(['stdin', 'resize']);

function isOutputChannel(channel: number): boolean {
  const name = execChannels[channel];
  return name !== undefined && outputChannels.has(name);
}

/**
 * exec and attach over WebSocket. With an output masker, server-to-client messages are re-encoded:
 * stdout and stderr masked (masked-output.ts), every other message and control frame as it came,
 * after the output held back before it (a channel's close after that channel's, the rest after all;
 * pings and pongs do not order output).
 */
export class WebSocketChannelDecoder implements ProtocolDecoder {
  private readonly codec: ChannelCodec;
  private readonly reader: ChannelMessageReader;
  private readonly output?: MaskedOutput<number>;

  constructor(
    private readonly subprotocol: string,
    limits: StreamLimits,
    outputMasker?: Masker,
  ) {
    this.codec = channelCodec(subprotocol);
    this.reader = new ChannelMessageReader(this.codec, limits);
    if (outputMasker) this.output = new MaskedOutput(outputMasker);
  }

  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead {
    const events = this.reader.push(direction, bytes, timeMs);
    if (direction === 'server-to-client' && this.output) return this.reframe(events, this.output, timeMs);
    return { direction, frames: events.flatMap((event) => this.frame(direction, event, timeMs) ?? []), forward: bytes };
  }

  holding(): boolean {
    return this.output?.holding() ?? false;
  }

  release(timeMs: number): StreamRead {
    const out = new Reframed();
    if (this.output) this.releaseInto(out, this.output, timeMs);
    return out.read();
  }

  closingNotice(message: string): Buffer {
    // re-framed output reaches the client as whole messages only: it is always at a message boundary
    if (!this.output && !this.reader.canInject()) return Buffer.alloc(0);
    return Buffer.concat([encodeChannelMessage(this.subprotocol, errorChannel, errorChannelPayload(this.codec, message)), encodeNormalClose()]);
  }

  private frame(direction: Direction, event: ChannelEvent, timeMs: number): StreamFrame | undefined {
    const { content } = event;
    if (!content) return event.control;
    const name = execChannels[content.channel];
    if (!name) throw new ProtocolError(`exec message on unknown channel ${content.channel}`);
    if (direction === 'client-to-server' && !clientChannels.has(name)) throw new ProtocolError(`exec message from the client on ${name}, which the server does not read`);
    if (content.kind === 'close') return { direction, channel: 'close', data: Buffer.from(name), stream: content.channel, timeMs };
    return content.data.length > 0 ? { direction, channel: name, data: content.data, stream: content.channel, timeMs } : undefined;
  }

  private reframe(events: ChannelEvent[], output: MaskedOutput<number>, timeMs: number): StreamRead {
    const out = new Reframed();
    for (const event of events) {
      const { content } = event;
      if (content?.kind === 'message' && isOutputChannel(content.channel)) {
        const masked = output.push(content.channel, content.data);
        if (masked.length > 0) out.add([this.outputFrame(content.channel, masked, timeMs)], encodeChannelMessage(this.subprotocol, content.channel, masked));
        continue;
      }
      const frame = this.frame('server-to-client', event, timeMs);
      if (event.opcode !== opcodes.ping && event.opcode !== opcodes.pong) this.releaseInto(out, output, timeMs, content?.kind === 'close' ? content.channel : undefined);
      out.add(frame ? [frame] : [], encodeWebSocketFrame({ opcode: event.opcode, payload: event.payload }));
    }
    return out.read();
  }

  /** The output held for one channel (its close) or all of them, as messages of their channels. */
  private releaseInto(out: Reframed, output: MaskedOutput<number>, timeMs: number, only?: number): void {
    for (const [channel, data] of output.release(only)) {
      out.add([this.outputFrame(channel, data, timeMs)], encodeChannelMessage(this.subprotocol, channel, data));
    }
  }

  private outputFrame(channel: number, data: Buffer, timeMs: number): StreamFrame {
    return { direction: 'server-to-client', channel: execChannels[channel]!, data, stream: channel, timeMs };
  }
}
