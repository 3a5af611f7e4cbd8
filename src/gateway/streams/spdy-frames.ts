/**
 * A small SPDY/3.1 codec, written for kubegate because npm `spdy-transport` rejects the SYN_STREAMs
 * Kubernetes sends (no `:method`/`:path`). The parser reads one direction incrementally and mirrors
 * the checks of the Go framer the peers use (moby/spdystream): fixed-size control frames must have
 * exactly their size, unknown control frame types are errors, header names must be lower-case and
 * unique. Exactness matters because Go reads a frame's fields and not its declared length: a frame
 * with trailing bytes would make Go parse those bytes as the next frame while a length-trusting
 * parser skipped them. The encoder exists to inject RST_STREAM/GOAWAY/data frames and to build test
 * vectors; its header compression is a context of its own, so headers it sends would desynchronise a
 * live connection's compression state and are only for tests and new connections.
 */
import { ByteQueue, ProtocolError } from './decoding.js';
import { HeaderDeflater, HeaderInflater } from './spdy-zlib.js';

const spdyVersion = 3;

const controlTypes = { syn_stream: 1, syn_reply: 2, rst_stream: 3, settings: 4, ping: 6, goaway: 7, headers: 8, window_update: 9 } as const;

const flagFin = 0x01;
const flagUnidirectional = 0x02;
const flagClearSettings = 0x01;

/** Header names (lower-case) to values; a value with NUL bytes on the wire is several values. */
export type SpdyHeaders = Map<string, string[]>;

export type SpdyFrame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedStreamId: number; priority: number; slot: number; fin: boolean; unidirectional: boolean; headers: SpdyHeaders }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headers: SpdyHeaders }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; clearSettings: boolean; entries: { id: number; flags: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; fin: boolean; headers: SpdyHeaders }
  | { type: 'window_update'; streamId: number; deltaWindowSize: number };

export interface SpdyParserOptions {
  /** Largest frame payload (the 24-bit length field allows 16 MiB - 1). */
  maxFrameBytes: number;
  /** Largest header block once decompressed. */
  maxHeaderBlockBytes: number;
}

const frameHeaderBytes = 8;
const streamIdMask = 0x7fffffff;

/** Payload sizes: exact for fixed-size frames, a minimum for header-carrying ones. */
const payloadSize: Record<number, { exact?: number; min?: number }> = {
  [controlTypes.syn_stream]: { min: 10 },
  [controlTypes.syn_reply]: { min: 4 },
  [controlTypes.rst_stream]: { exact: 8 },
  [controlTypes.settings]: { min: 4 },
  [controlTypes.ping]: { exact: 4 },
  [controlTypes.goaway]: { exact: 8 },
  [controlTypes.headers]: { min: 4 },
  [controlTypes.window_update]: { exact: 8 },
};

/** One direction of a SPDY connection, with that direction's header decompression context. */
export class SpdyParser {
  private readonly queue = new ByteQueue();
  private readonly inflater: HeaderInflater;

  constructor(private readonly options: SpdyParserOptions) {
    this.inflater = new HeaderInflater(options.maxHeaderBlockBytes);
  }

  /** Nothing of a frame buffered. */
  atFrameBoundary(): boolean {
    return this.queue.length === 0;
  }

  push(bytes: Buffer): SpdyFrame[] {
    this.queue.push(bytes);
    const frames: SpdyFrame[] = [];
    for (let frame = this.next(); frame; frame = this.next()) frames.push(frame);
    return frames;
  }

  private next(): SpdyFrame | undefined {
    if (this.queue.length < frameHeaderBytes) return undefined;
    const header = this.queue.peek(frameHeaderBytes);
    const control = (header[0]! & 0x80) !== 0;
    const flags = header[4]!;
    const length = header.readUIntBE(5, 3);
    if (length > this.options.maxFrameBytes) throw new ProtocolError(`SPDY frame of ${length} bytes exceeds the limit of ${this.options.maxFrameBytes}`);
    const type = header.readUInt16BE(2);
    if (control) {
      const version = header.readUInt16BE(0) & 0x7fff;
      if (version !== spdyVersion) throw new ProtocolError(`SPDY version ${version} control frame`);
      const size = payloadSize[type];
      if (!size) throw new ProtocolError(`unknown SPDY control frame type ${type}`);
      if ((size.exact !== undefined && length !== size.exact) || length < (size.min ?? 0)) throw new ProtocolError(`SPDY control frame type ${type} with a payload of ${length} bytes`);
    }
    if (this.queue.length < frameHeaderBytes + length) return undefined;
    this.queue.take(frameHeaderBytes);
    const payload = this.queue.take(length);
    if (!control) {
      const streamId = header.readUInt32BE(0) & streamIdMask;
      if (streamId === 0) throw new ProtocolError('SPDY data frame on stream 0');
      return { type: 'data', streamId, fin: (flags & flagFin) !== 0, data: payload };
    }
    return this.controlFrame(type, flags, payload);
  }

  private controlFrame(type: number, flags: number, payload: Buffer): SpdyFrame {
    const fin = (flags & flagFin) !== 0;
    const first = payload.readUInt32BE(0) & streamIdMask;
    switch (type) {
      case controlTypes.syn_stream:
        return {
          type: 'syn_stream',
          streamId: nonZero(first, 'SYN_STREAM'),
          associatedStreamId: payload.readUInt32BE(4) & streamIdMask,
          priority: payload[8]! >> 5,
          slot: payload[9]!,
          fin,
          unidirectional: (flags & flagUnidirectional) !== 0,
          headers: this.headers(payload.subarray(10)),
        };
      case controlTypes.syn_reply:
        return { type: 'syn_reply', streamId: nonZero(first, 'SYN_REPLY'), fin, headers: this.headers(payload.subarray(4)) };
      case controlTypes.headers:
        return { type: 'headers', streamId: nonZero(first, 'HEADERS'), fin, headers: this.headers(payload.subarray(4)) };
      case controlTypes.rst_stream: {
        const status = payload.readUInt32BE(4);
        if (status === 0) throw new ProtocolError('SPDY RST_STREAM with status 0');
        return { type: 'rst_stream', streamId: nonZero(first, 'RST_STREAM'), status };
      }
      case controlTypes.settings: {
        const count = payload.readUInt32BE(0);
        if (payload.length !== 4 + 8 * count) throw new ProtocolError('SPDY SETTINGS length does not match its entry count');
        const entries = Array.from({ length: count }, (_, i) => {
          const word = payload.readUInt32BE(4 + 8 * i);
          return { id: word & 0xffffff, flags: word >>> 24, value: payload.readUInt32BE(8 + 8 * i) };
        });
        return { type: 'settings', clearSettings: (flags & flagClearSettings) !== 0, entries };
      }
      case controlTypes.ping:
        if (flags !== 0) throw new ProtocolError('SPDY PING with flags');
        return { type: 'ping', id: nonZero(payload.readUInt32BE(0), 'PING') };
      case controlTypes.goaway:
        if (flags !== 0) throw new ProtocolError('SPDY GOAWAY with flags');
        return { type: 'goaway', lastGoodStreamId: first, status: payload.readUInt32BE(4) };
      default: // WINDOW_UPDATE: `next` let no other type through
        if (flags !== 0) throw new ProtocolError('SPDY WINDOW_UPDATE with flags');
        return { type: 'window_update', streamId: first, deltaWindowSize: payload.readUInt32BE(4) & streamIdMask };
    }
  }

  /** Every header block is inflated, even of frames kubegate ignores: the context spans them all. */
  private headers(compressed: Buffer): SpdyHeaders {
    return decodeHeaderBlock(this.inflater.inflate(compressed));
  }
}

function nonZero(streamId: number, frame: string): number {
  if (streamId === 0) throw new ProtocolError(`SPDY ${frame} on stream 0`);
  return streamId;
}

/**
 * A decompressed header block: a 32-bit count, then 32-bit-length-prefixed names and values.
 * The block must hold exactly `count` pairs: bytes left over would be read by the Go peer as the
 * start of the next block.
 */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  let at = 0;
  const field = (): string => {
    if (at + 4 > block.length) throw new ProtocolError('SPDY header block is truncated');
    const length = block.readUInt32BE(at);
    if (length > block.length - at - 4) throw new ProtocolError('SPDY header block is truncated');
    at += 4 + length;
    return block.toString('latin1', at - length, at);
  };
  if (block.length < 4) throw new ProtocolError('SPDY header block is truncated');
  const count = block.readUInt32BE(0);
  at = 4;
  if (count > (block.length - 4) / 8) throw new ProtocolError('SPDY header count larger than the block');
  const headers: SpdyHeaders = new Map();
  for (let i = 0; i < count; i++) {
    const name = field();
    if (name.length === 0 || /[A-Z]/.test(name)) throw new ProtocolError(`SPDY header name "${name}" is empty or not lower-case`);
    if (headers.has(name)) throw new ProtocolError(`SPDY header "${name}" repeated`);
    headers.set(name, field().split('\0'));
  }
  if (at !== block.length) throw new ProtocolError('SPDY header block has bytes after its last header');
  return headers;
}

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [u32(headers.size)];
  for (const [name, values] of headers) {
    for (const text of [name, values.join('\0')]) {
      const bytes = Buffer.from(text, 'latin1');
      parts.push(u32(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}

function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out;
}

/** One direction's frame writer; header blocks share its compression context. */
export class SpdyFrameEncoder {
  private readonly deflater = new HeaderDeflater();

  encode(frame: SpdyFrame): Buffer {
    switch (frame.type) {
      case 'data': {
        const header = Buffer.allocUnsafe(frameHeaderBytes);
        header.writeUInt32BE(frame.streamId & streamIdMask, 0);
        header.writeUInt32BE(((frame.fin ? flagFin : 0) << 24) | frame.data.length, 4);
        return Buffer.concat([header, frame.data]);
      }
      case 'syn_stream': {
        const fixed = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, (frame.priority & 7) << 5, frame.slot]);
        fixed.writeUInt32BE(frame.streamId & streamIdMask, 0);
        fixed.writeUInt32BE(frame.associatedStreamId & streamIdMask, 4);
        const flags = (frame.fin ? flagFin : 0) | (frame.unidirectional ? flagUnidirectional : 0);
        return control(controlTypes.syn_stream, flags, fixed, this.compress(frame.headers));
      }
      case 'syn_reply':
      case 'headers':
        return control(controlTypes[frame.type], frame.fin ? flagFin : 0, u32(frame.streamId & streamIdMask), this.compress(frame.headers));
      case 'rst_stream':
        return control(controlTypes.rst_stream, 0, u32(frame.streamId), u32(frame.status));
      case 'settings':
        return control(
          controlTypes.settings,
          frame.clearSettings ? flagClearSettings : 0,
          u32(frame.entries.length),
          ...frame.entries.flatMap((entry) => [u32((entry.flags << 24) | entry.id), u32(entry.value)]),
        );
      case 'ping':
        return control(controlTypes.ping, 0, u32(frame.id));
      case 'goaway':
        return control(controlTypes.goaway, 0, u32(frame.lastGoodStreamId), u32(frame.status));
      case 'window_update':
        return control(controlTypes.window_update, 0, u32(frame.streamId), u32(frame.deltaWindowSize));
    }
  }

  private compress(headers: SpdyHeaders): Buffer {
    return this.deflater.deflate(encodeHeaderBlock(headers));
  }
}

function control(type: number, flags: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const header = Buffer.allocUnsafe(frameHeaderBytes);
  header.writeUInt32BE((0x8000 | spdyVersion) * 0x10000 + type, 0);
  header.writeUInt32BE(flags * 0x1000000 + body.length, 4);
  return Buffer.concat([header, body]);
}
