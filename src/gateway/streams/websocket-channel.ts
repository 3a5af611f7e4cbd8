/**
 * The Kubernetes channel protocol over WebSocket (apimachinery `wsstream`): every data message is
 * one channel byte followed by the payload. Binary subprotocols carry the channel as a number and the
 * payload raw; the base64 ones carry the channel as an ASCII digit and the payload base64-encoded.
 * `v5.channel.k8s.io` adds the half-close signal `[255, channel]` (kubectl's stdin at EOF). For exec
 * and attach the channels are 0 stdin, 1 stdout, 2 stderr, 3 error (a `metav1.Status` JSON from v4
 * on, plain text before) and 4 resize (`{"Width","Height"}`).
 */
import { forbiddenStatus, ProtocolError } from './decoding.js';
import type { Direction, StreamChannel, StreamDecoder, StreamFrame, StreamLimits } from './frame.js';
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

export type ChannelEvent =
  | { kind: 'message'; direction: Direction; channel: number; data: Buffer }
  | { kind: 'close'; direction: Direction; channel: number }
  | { kind: 'frame'; frame: StreamFrame };

/**
 * WebSocket bytes of both directions → channel messages, half-close signals and recordable control
 * frames, in order. Fragmented messages are joined (bounded by `maxMessageBytes`); empty messages
 * are dropped as the API server drops them.
 */
export class ChannelMessageReader {
  private readonly tap: WebSocketTap;
  private readonly fragments: Record<Direction, { parts: Buffer[]; bytes: number }> = {
    'client-to-server': { parts: [], bytes: 0 },
    'server-to-client': { parts: [], bytes: 0 },
  };

  constructor(
    private readonly codec: ChannelCodec,
    private readonly limits: StreamLimits,
  ) {
    this.tap = new WebSocketTap(limits);
  }

  push(direction: Direction, bytes: Buffer, timeMs: number): ChannelEvent[] {
    const events: ChannelEvent[] = [];
    for (const frame of this.tap.push(direction, bytes)) {
      if (frame.opcode >= opcodes.close) {
        const control = controlFrame(frame, direction, timeMs);
        if (control) events.push({ kind: 'frame', frame: control });
        continue;
      }
      const pending = this.fragments[direction];
      pending.bytes += frame.payload.length;
      if (pending.bytes > this.limits.maxMessageBytes) {
        throw new ProtocolError(`websocket message of more than ${this.limits.maxMessageBytes} bytes`);
      }
      pending.parts.push(frame.payload);
      if (!frame.fin) continue;
      const message = pending.parts.length === 1 ? pending.parts[0]! : Buffer.concat(pending.parts);
      pending.parts = [];
      pending.bytes = 0;
      const event = this.decode(direction, message);
      if (event) events.push(event);
    }
    return events;
  }

  /** Whether the gateway may inject a message toward the client now. */
  canInject(): boolean {
    return this.tap.canInject();
  }

  private decode(direction: Direction, message: Buffer): ChannelEvent | undefined {
    const decoded = decodeChannelMessage(this.codec, message);
    return decoded && { ...decoded, direction };
  }
}

/** One joined data message: a channel's payload or (v5) the half-close of a channel; undefined when empty. */
export function decodeChannelMessage(codec: ChannelCodec, message: Buffer): { kind: 'message'; channel: number; data: Buffer } | { kind: 'close'; channel: number } | undefined {
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

/** exec and attach over WebSocket. */
export class WebSocketChannelDecoder implements StreamDecoder {
  private readonly codec: ChannelCodec;
  private readonly reader: ChannelMessageReader;

  constructor(
    private readonly subprotocol: string,
    limits: StreamLimits,
  ) {
    this.codec = channelCodec(subprotocol);
    this.reader = new ChannelMessageReader(this.codec, limits);
  }

  push(direction: Direction, bytes: Buffer, timeMs: number): StreamFrame[] {
    const frames: StreamFrame[] = [];
    for (const event of this.reader.push(direction, bytes, timeMs)) {
      if (event.kind === 'frame') {
        frames.push(event.frame);
        continue;
      }
      const name = execChannels[event.channel];
      if (!name) throw new ProtocolError(`exec message on unknown channel ${event.channel}`);
      if (event.kind === 'close') {
        frames.push({ direction, channel: 'close', data: Buffer.from(name), stream: event.channel, timeMs });
      } else if (event.data.length > 0) {
        frames.push({ direction, channel: name, data: event.data, stream: event.channel, timeMs });
      }
    }
    return frames;
  }

  closingNotice(message: string): Buffer {
    if (!this.reader.canInject()) return Buffer.alloc(0);
    return Buffer.concat([encodeChannelMessage(this.subprotocol, errorChannel, errorChannelPayload(this.codec, message)), encodeNormalClose()]);
  }
}
