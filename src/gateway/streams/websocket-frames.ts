/**
 * RFC 6455 framing, parsed incrementally from tapped bytes: frames may arrive split at any byte.
 * The parser enforces what the strictest peer enforces (client frames masked, server frames not,
 * control frames short and unfragmented, no interleaved data messages, no unknown opcode) so that
 * it never reads a stream differently from the peer that receives it: where the peers' readers
 * differ, it refuses. Reserved bits are refused: Kubernetes servers negotiate no extension (Go's
 * x/net/websocket would ignore the bits, gorilla refuses them), and a compressed message is one
 * kubegate could not check. Payload lengths are checked against the limit from the header alone,
 * before any payload byte is buffered. Every check here is made on a frame's header, so a refused
 * frame is refused before any of its payload is forwarded (at most the first bytes of its header
 * went ahead with an earlier chunk, which no reader acts on).
 *
 * Fragmentation is a choice of the protocol (`fragmentedMessages`): the channel subprotocols forbid
 * it (websocket-channel.ts says why), the port-forward tunnel joins fragments as gorilla does.
 */
import { ByteQueue, ProtocolError } from './decoding.js';
import type { Direction, StreamFrame, StreamLimits } from './frame.js';

export const opcodes = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface WebSocketFrame {
  /** The frame's own opcode: 0 for a continuation. */
  opcode: number;
  /** The opcode of the message the frame belongs to: text or binary for data frames, its own for control frames. */
  messageOpcode: number;
  fin: boolean;
  /** Unmasked payload. */
  payload: Buffer;
}

export interface WebSocketParserOptions {
  /** Client-to-server frames must be masked; server-to-client frames must not be. */
  masked: boolean;
  maxPayloadBytes: number;
  /** Whether a data message may span frames (FIN=0, then continuations), as RFC 6455 allows by default; when not, such frames are refused. */
  fragmentedMessages?: boolean;
  /** Whether text messages are read (by default); when not, a text frame is refused. */
  textMessages?: boolean;
}

const maxControlPayload = 125;

/** One direction of a WebSocket connection. */
export class WebSocketParser {
  private readonly queue = new ByteQueue();
  /** Opcode of the data message whose fragments are arriving; 0 between messages. */
  private fragmentedOpcode = 0;
  private closed = false;

  constructor(private readonly options: WebSocketParserOptions) {}

  /** Between messages: nothing of a frame buffered, no fragmented message open. */
  atMessageBoundary(): boolean {
    return this.queue.length === 0 && this.fragmentedOpcode === 0;
  }

  push(bytes: Buffer): WebSocketFrame[] {
    this.queue.push(bytes);
    const frames: WebSocketFrame[] = [];
    for (let frame = this.next(); frame; frame = this.next()) frames.push(frame);
    return frames;
  }

  private next(): WebSocketFrame | undefined {
    if (this.queue.length < 2) return undefined;
    const start = this.queue.peek(2);
    const fin = (start[0]! & 0x80) !== 0;
    const opcode = start[0]! & 0x0f;
    const masked = (start[1]! & 0x80) !== 0;
    const shortLength = start[1]! & 0x7f;
    if (this.closed) throw new ProtocolError('websocket frame after the close frame');
    if ((start[0]! & 0x70) !== 0) throw new ProtocolError('websocket frame with reserved bits set (no extension is negotiated)');
    if (masked !== this.options.masked) throw new ProtocolError(this.options.masked ? 'unmasked websocket frame from the client' : 'masked websocket frame from the server');
    const control = opcode >= opcodes.close;
    if (control) {
      if (opcode > opcodes.pong) throw new ProtocolError(`unknown websocket opcode ${opcode}`);
      if (!fin) throw new ProtocolError('fragmented websocket control frame');
      if (shortLength > maxControlPayload) throw new ProtocolError('websocket control frame longer than 125 bytes');
      if (opcode === opcodes.close && shortLength === 1) throw new ProtocolError('websocket close frame with a 1-byte payload');
    } else if (opcode > opcodes.binary) {
      throw new ProtocolError(`unknown websocket opcode ${opcode}`);
    } else if (this.options.textMessages === false && opcode === opcodes.text) {
      throw new ProtocolError('websocket text message where only binary messages are read');
    } else if (this.options.fragmentedMessages === false && (!fin || opcode === opcodes.continuation)) {
      throw new ProtocolError('fragmented websocket message: this subprotocol carries every message in one frame');
    } else if (opcode === opcodes.continuation && this.fragmentedOpcode === 0) {
      throw new ProtocolError('websocket continuation frame outside a fragmented message');
    } else if (opcode !== opcodes.continuation && this.fragmentedOpcode !== 0) {
      throw new ProtocolError('new websocket message before the fragmented one ended');
    }
    const lengthBytes = shortLength === 126 ? 2 : shortLength === 127 ? 8 : 0;
    const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
    if (this.queue.length < headerLength) return undefined;
    const header = this.queue.peek(headerLength);
    let length = shortLength;
    if (lengthBytes === 2) length = header.readUInt16BE(2);
    if (lengthBytes === 8) {
      const high = header.readUInt32BE(2);
      if (high & 0x80000000) throw new ProtocolError('websocket payload length with the most significant bit set');
      length = high * 2 ** 32 + header.readUInt32BE(6);
    }
    if (length > this.options.maxPayloadBytes) {
      throw new ProtocolError(`websocket frame payload of ${length} bytes exceeds the limit of ${this.options.maxPayloadBytes}`);
    }
    if (this.queue.length < headerLength + length) return undefined;
    this.queue.take(headerLength);
    const payload = masked ? unmask(this.queue.take(length), header.subarray(headerLength - 4)) : this.queue.take(length);
    const messageOpcode = opcode === opcodes.continuation ? this.fragmentedOpcode : opcode;
    if (!control) this.fragmentedOpcode = fin ? 0 : messageOpcode;
    if (opcode === opcodes.close) this.closed = true;
    return { opcode, messageOpcode, fin, payload };
  }
}

/** A new buffer: the tapped bytes are forwarded as they are and must not be unmasked in place. */
function unmask(payload: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/**
 * One frame on the wire. Server-to-client frames are unmasked; pass a 4-byte `maskKey` for a frame
 * the gateway sends toward the API server (or a test sends as a client).
 */
export function encodeWebSocketFrame(frame: { opcode: number; payload: Buffer; fin?: boolean; maskKey?: Buffer }): Buffer {
  const { payload, maskKey } = frame;
  const lengthBytes = payload.length > 0xffff ? 8 : payload.length > maxControlPayload ? 2 : 0;
  const headerLength = 2 + lengthBytes + (maskKey ? 4 : 0);
  const out = Buffer.allocUnsafe(headerLength + payload.length);
  out[0] = (frame.fin === false ? 0 : 0x80) | frame.opcode;
  out[1] = (maskKey ? 0x80 : 0) | (lengthBytes === 8 ? 127 : lengthBytes === 2 ? 126 : payload.length);
  if (lengthBytes === 2) out.writeUInt16BE(payload.length, 2);
  if (lengthBytes === 8) out.writeBigUInt64BE(BigInt(payload.length), 2);
  if (maskKey) {
    maskKey.copy(out, headerLength - 4, 0, 4);
    for (let i = 0; i < payload.length; i++) out[headerLength + i] = payload[i]! ^ maskKey[i & 3]!;
  } else {
    payload.copy(out, headerLength);
  }
  return out;
}

/** Close frame payload: status code and a reason (truncated to what fits in a control frame). */
export function closePayload(code: number, reason = ''): Buffer {
  const text = Buffer.from(reason).subarray(0, maxControlPayload - 2);
  const out = Buffer.allocUnsafe(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

/** Close code 1000: the only one after which kubectl reads what the error channel already said. */
export const normalClosure = 1000;

/** Both directions of one connection, each with its own masking rule. */
export class WebSocketTap {
  private readonly parsers: Record<Direction, WebSocketParser>;

  constructor(limits: StreamLimits, messages: Pick<WebSocketParserOptions, 'fragmentedMessages' | 'textMessages'>) {
    const options = { maxPayloadBytes: limits.maxFrameBytes, ...messages };
    this.parsers = {
      'client-to-server': new WebSocketParser({ ...options, masked: true }),
      'server-to-client': new WebSocketParser({ ...options, masked: false }),
    };
  }

  push(direction: Direction, bytes: Buffer): WebSocketFrame[] {
    return this.parsers[direction].push(bytes);
  }

  /** Whether the gateway may inject a message toward the client now. */
  canInject(): boolean {
    return this.parsers['server-to-client'].atMessageBoundary();
  }
}

/** The frame worth recording for a control frame: a close becomes `control`; pings and pongs none. */
export function controlFrame(frame: WebSocketFrame, direction: Direction, timeMs: number): StreamFrame | undefined {
  if (frame.opcode !== opcodes.close) return undefined;
  const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
  const data = Buffer.from(JSON.stringify({ type: 'websocket-close', code, reason: frame.payload.subarray(2).toString('utf8') }));
  return { direction, channel: 'control', data, timeMs };
}
