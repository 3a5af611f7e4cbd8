/**
 * Masking of exec and attach output (invariant 9). Where the policy has masking patterns, the gateway
 * stops relaying the server's bytes unchanged: it parses the server-to-client frames, passes stdout and
 * stderr payloads through one pattern masker per channel and writes re-encoded frames to kubectl; every
 * other frame keeps its content. The decoder and the recorder then tap the masked bytes, so neither the
 * client nor the store sees a masked value in clear text.
 *
 * A masker holds back up to the patterns' reach so that a value split across two writes is still
 * found; interactive output must not wait for more bytes that may never come, so the relay calls
 * `release()` when output pauses (`outputIdleMs`). A value written in pieces further apart than that is
 * not recognised — the price of a usable shell. Held-back output is also released before any other
 * frame (the exit status, a close), so ordering toward kubectl is kept. Port-forward carries arbitrary
 * TCP and is not masked.
 */
import type { Masker, StreamMasker } from '../../policy/masking/masker.js';
import { ProtocolError } from './decoding.js';
import type { NegotiatedProtocol, StreamLimits } from './frame.js';
import { SpdyFrameEncoder, SpdyParser, type SpdyFrame } from './spdy-frames.js';
import { singleHeader } from './spdy-streams.js';
import { channelCodec, decodeChannelMessage, encodeChannelMessage, type ChannelCodec } from './websocket-channel.js';
import { encodeWebSocketFrame, opcodes, WebSocketParser } from './websocket-frames.js';

export { outputIdleMs } from '../../policy/masking/masker.js';

export interface OutputMasking {
  /** Client-to-server bytes, watched (not changed) to learn which streams carry output. */
  observeClient(bytes: Buffer): void;
  /** Server-to-client bytes in, the bytes for the client out (possibly fewer now, more later). */
  rewrite(bytes: Buffer): Buffer;
  /** Whether output is held back (schedule `release` after `outputIdleMs`). */
  holding(): boolean;
  /** The held-back output, masked, as frames for the client. */
  release(): Buffer;
}

/** Undefined when nothing needs masking: the relay then stays byte for byte. */
export function outputMaskingFor(protocol: NegotiatedProtocol, subresource: string, masker: Masker, limits: StreamLimits): OutputMasking | undefined {
  if (!masker.masksText || (subresource !== 'exec' && subresource !== 'attach')) return undefined;
  if (protocol.transport === 'spdy') return new SpdyOutputMasking(masker, limits);
  return new WebSocketOutputMasking(protocol.subprotocol, masker, limits);
}

const outputChannels = ['stdout', 'stderr'];

/** Output maskers by channel or stream id, created on first output. */
class OutputChannels<Key> {
  private readonly maskers = new Map<Key, StreamMasker>();
  private held = 0;

  constructor(private readonly masker: Masker) {}

  push(key: Key, data: Buffer): Buffer {
    let stream = this.maskers.get(key);
    if (!stream) this.maskers.set(key, (stream = this.masker.createStreamMasker()));
    const out = stream.push(data);
    this.held += data.length - out.length;
    return out;
  }

  /** Flushes one stream (its end) or all of them; yields [key, masked bytes] for each non-empty tail. */
  *release(only?: Key): Generator<[Key, Buffer]> {
    if (this.held <= 0) return;
    for (const [key, stream] of this.maskers) {
      if (only !== undefined && key !== only) continue;
      const out = stream.flush();
      this.held -= out.length;
      if (out.length > 0) yield [key, out];
    }
    if (only === undefined) this.held = 0;
  }

  holding(): boolean {
    return this.held > 0;
  }
}

class WebSocketOutputMasking implements OutputMasking {
  private readonly codec: ChannelCodec;
  private readonly parser: WebSocketParser;
  private readonly channels: OutputChannels<number>;
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;

  constructor(
    private readonly subprotocol: string,
    masker: Masker,
    private readonly limits: StreamLimits,
  ) {
    this.codec = channelCodec(subprotocol);
    this.parser = new WebSocketParser({ masked: false, maxPayloadBytes: limits.maxFrameBytes });
    this.channels = new OutputChannels(masker);
  }

  observeClient(): void {
    // every channel's role is fixed by its number: nothing to learn from the client
  }

  rewrite(bytes: Buffer): Buffer {
    const out: Buffer[] = [];
    for (const frame of this.parser.push(bytes)) {
      if (frame.opcode >= opcodes.close) {
        if (frame.opcode === opcodes.close) out.push(this.release());
        out.push(encodeWebSocketFrame({ opcode: frame.opcode, payload: frame.payload }));
        continue;
      }
      this.fragmentBytes += frame.payload.length;
      if (this.fragmentBytes > this.limits.maxMessageBytes) throw new ProtocolError(`websocket message of more than ${this.limits.maxMessageBytes} bytes`);
      this.fragments.push(frame.payload);
      if (!frame.fin) continue;
      const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
      [this.fragments, this.fragmentBytes] = [[], 0];
      out.push(this.rewriteMessage(frame.messageOpcode, message));
    }
    return Buffer.concat(out);
  }

  private rewriteMessage(opcode: number, message: Buffer): Buffer {
    const decoded = decodeChannelMessage(this.codec, message);
    if (decoded?.kind === 'message' && outputChannels.includes(channelName(decoded.channel))) {
      const masked = this.channels.push(decoded.channel, decoded.data);
      return masked.length > 0 ? encodeChannelMessage(this.subprotocol, decoded.channel, masked) : Buffer.alloc(0);
    }
    const tail = decoded?.kind === 'close' ? this.encode(this.channels.release(decoded.channel)) : this.release();
    return Buffer.concat([tail, encodeWebSocketFrame({ opcode, payload: message })]);
  }

  holding(): boolean {
    return this.channels.holding();
  }

  release(): Buffer {
    return this.encode(this.channels.release());
  }

  private encode(tails: Iterable<[number, Buffer]>): Buffer {
    return Buffer.concat([...tails].map(([channel, data]) => encodeChannelMessage(this.subprotocol, channel, data)));
  }
}

function channelName(channel: number): string {
  return ['stdin', 'stdout', 'stderr', 'error', 'resize'][channel] ?? '';
}

/**
 * Over SPDY every server frame is re-encoded, so the client's header decompression follows the
 * gateway's compressor from the first SYN_REPLY on; only output data frames change content.
 */
class SpdyOutputMasking implements OutputMasking {
  private readonly clientParser: SpdyParser;
  private readonly serverParser: SpdyParser;
  private readonly encoder = new SpdyFrameEncoder();
  private readonly outputStreams = new Set<number>();
  private readonly channels: OutputChannels<number>;

  constructor(masker: Masker, limits: StreamLimits) {
    const options = { maxFrameBytes: limits.maxFrameBytes, maxHeaderBlockBytes: limits.maxHeaderBlockBytes };
    [this.clientParser, this.serverParser] = [new SpdyParser(options), new SpdyParser(options)];
    this.channels = new OutputChannels(masker);
  }

  observeClient(bytes: Buffer): void {
    for (const frame of this.clientParser.push(bytes)) {
      if (frame.type === 'syn_stream' && outputChannels.includes(singleHeader(frame.headers, 'streamtype'))) this.outputStreams.add(frame.streamId);
    }
  }

  rewrite(bytes: Buffer): Buffer {
    const out: Buffer[] = [];
    for (const frame of this.serverParser.push(bytes)) out.push(this.rewriteFrame(frame));
    return Buffer.concat(out);
  }

  private rewriteFrame(frame: SpdyFrame): Buffer {
    if (frame.type === 'data' && this.outputStreams.has(frame.streamId)) {
      const masked = this.channels.push(frame.streamId, frame.data);
      if (!frame.fin) return masked.length > 0 ? this.encoder.encode({ ...frame, data: masked }) : Buffer.alloc(0);
      const tail = [...this.channels.release(frame.streamId)].map(([, data]) => data);
      return this.encoder.encode({ ...frame, data: Buffer.concat([masked, ...tail]) });
    }
    // flow control and pings do not order output; anything else (the exit status, a reset) comes after it
    const keepsOrder = frame.type === 'ping' || frame.type === 'window_update';
    return Buffer.concat([keepsOrder ? Buffer.alloc(0) : this.release(), this.encoder.encode(frame)]);
  }

  holding(): boolean {
    return this.channels.holding();
  }

  release(): Buffer {
    return Buffer.concat([...this.channels.release()].map(([streamId, data]) => this.encoder.encode({ type: 'data', streamId, fin: false, data })));
  }
}
