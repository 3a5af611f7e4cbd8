/**
 * The one shape every streaming protocol is decoded into, and the one switch (`decoderFor`) that picks
 * a protocol's reader. After an exec, attach or port-forward upgrade the gateway does not terminate
 * WebSocket or SPDY: the stream session (../stream-session.ts) hands each chunk it receives to the
 * reader of the negotiated protocol, one module per protocol and transport in this folder, which
 * reads it once and yields both the `StreamFrame`s it completed (for the recorder and the stdin guard)
 * and the bytes to forward — the chunk as it came, or, for exec and attach output under a policy with
 * masking patterns, the frames it read re-encoded with their output masked (masked-output.ts).
 *
 * A decoder is stricter than the peers it watches: whatever it cannot decode exactly as the peer would
 * (a malformed frame, an unknown stream, a limit exceeded) is a `ProtocolError`, which ends that one
 * session — never the gateway — so the recording and the stdin check never see a stream different
 * from the one the pod gets.
 */
import type { Masker } from '../../policy/masking/masker.js';
import type { Direction, StreamChannel } from '../../recording/format.js';
import { ProtocolError } from './decoding.js';
import { SpdyPortForwardDecoder } from './spdy-portforward.js';
import { SpdyRemoteCommandDecoder } from './spdy-remotecommand.js';
import { WebSocketChannelDecoder } from './websocket-channel.js';
import { WebSocketChannelPortForwardDecoder, WebSocketTunnelPortForwardDecoder, tunnelSubprotocol } from './websocket-portforward.js';

export { ProtocolError } from './decoding.js';

export type { Direction, StreamChannel } from '../../recording/format.js';

/**
 * One decoded piece of a stream. `close` frames say that the writer of a channel closed it (kubectl's
 * stdin at EOF): `data` holds the closed channel's name (`stdin`), `stream` its channel number or
 * SPDY stream id. `control` frames are transport events worth keeping (WebSocket close, SPDY
 * RST_STREAM and GOAWAY) with a small JSON description as `data`; pings and flow control are dropped.
 */
export interface StreamFrame {
  direction: Direction;
  channel: StreamChannel;
  data: Buffer;
  /** port-forward: the remote port */
  port?: number;
  /** SPDY stream id or WS channel number */
  stream?: number;
  timeMs: number;
}

/** What a reader made of one chunk of one direction. */
export interface StreamRead {
  direction: Direction;
  /** The frames the chunk completed, output already masked: what the recorder and the stdin guard take. */
  frames: StreamFrame[];
  /** The bytes for the other side: the chunk as it came, or exec/attach output re-framed masked. */
  forward: Buffer;
}

/** One protocol's reader, as its module implements it (the held-output methods only where output is masked). */
export interface ProtocolDecoder {
  /** Feed the bytes of one direction as received. Throws `ProtocolError`. */
  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead;
  /**
   * Bytes that, written to the client just before the gateway closes both sockets, make kubectl
   * report `message` as the reason (an error Status on the error channel, then a clean close).
   * Empty while the server-to-client bytes forwarded so far end inside a frame or a fragmented
   * message: a notice there would corrupt the frame in flight, so the client just sees the close.
   */
  closingNotice(message: string): Buffer;
  /** Whether masked output is held back for a possible match (release it after `outputIdleMs` of quiet). */
  holding?(): boolean;
  /** The held-back output, masked, as server-to-client frames. */
  release?(timeMs: number): StreamRead;
}

export type StreamDecoder = Required<ProtocolDecoder>;

/** What decoderFor needs beyond the protocol. */
export interface DecoderOptions {
  limits?: StreamLimits;
  /**
   * Masks exec and attach output with its patterns (masked-output.ts); without patterns the output
   * stays byte for byte. Port-forward carries arbitrary TCP and is never masked.
   */
  outputMasker?: Masker;
}

/** What the 101 response negotiated, plus what the request said that the stream itself does not. */
export type NegotiatedProtocol =
  | {
      transport: 'websocket';
      /** `Sec-WebSocket-Protocol` of the 101 response; '' when none was chosen. */
      subprotocol: string;
      /**
       * The request's subresource. Only needed for port-forward over the channel subprotocols
       * (`v4.channel.k8s.io` serves exec and port-forward alike); defaults to exec.
       */
      subresource?: 'exec' | 'attach' | 'portforward';
      /** port-forward: the request's `ports` query, in order (channel 2n/2n+1 belong to ports[n]). */
      ports?: readonly number[];
    }
  | {
      transport: 'spdy';
      /** `X-Stream-Protocol-Version` of the 101 response. */
      streamProtocol: string;
    };

/** Memory bounds of one session's decoders: anything larger is a `ProtocolError`. */
export interface StreamLimits {
  /** Largest WebSocket frame payload or SPDY frame payload. */
  maxFrameBytes: number;
  /** Largest SPDY header block once decompressed. */
  maxHeaderBlockBytes: number;
  /** Most SPDY streams open at once on one connection. */
  maxOpenStreams: number;
}

/**
 * Kubernetes peers write at most 32 KiB per frame (Go's io.Copy buffer); SPDY cannot express more
 * than 16 MiB, so that is the frame bound. Header blocks of kubectl streams are tens of bytes.
 */
export const defaultStreamLimits: StreamLimits = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxHeaderBlockBytes: 64 * 1024,
  maxOpenStreams: 4096,
};

/** The reader for a negotiated protocol; `ProtocolError` when kubegate cannot decode it. */
export function decoderFor(protocol: NegotiatedProtocol, options: DecoderOptions = {}): StreamDecoder {
  const outputMasker = options.outputMasker?.masksText ? options.outputMasker : undefined;
  return new FailOnce(pickDecoder(protocol, options.limits ?? defaultStreamLimits, outputMasker));
}

function pickDecoder(protocol: NegotiatedProtocol, limits: StreamLimits, outputMasker: Masker | undefined): ProtocolDecoder {
  if (protocol.transport === 'spdy') {
    return protocol.streamProtocol === 'portforward.k8s.io'
      ? new SpdyPortForwardDecoder(limits)
      : new SpdyRemoteCommandDecoder(protocol.streamProtocol, limits, outputMasker);
  }
  if (protocol.subprotocol === tunnelSubprotocol) return new WebSocketTunnelPortForwardDecoder(limits);
  if (protocol.subresource === 'portforward') return new WebSocketChannelPortForwardDecoder(protocol.subprotocol, protocol.ports ?? [], limits);
  return new WebSocketChannelDecoder(protocol.subprotocol, limits, outputMasker);
}

/**
 * After a `ProtocolError` a decoder's state is undefined; every later read repeats the error, so a
 * caller that keeps feeding bytes can never get frames decoded from a desynchronised stream.
 */
class FailOnce implements StreamDecoder {
  private failure?: ProtocolError;

  constructor(private readonly inner: ProtocolDecoder) {}

  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead {
    if (this.failure) throw this.failure;
    try {
      return this.inner.read(direction, bytes, timeMs);
    } catch (error) {
      if (error instanceof ProtocolError) {
        error.direction ??= direction;
        this.failure = error;
      }
      throw error;
    }
  }

  closingNotice(message: string): Buffer {
    return this.failure ? Buffer.alloc(0) : this.inner.closingNotice(message);
  }

  holding(): boolean {
    return !this.failure && (this.inner.holding?.() ?? false);
  }

  release(timeMs: number): StreamRead {
    return this.failure || !this.inner.release ? { direction: 'server-to-client', frames: [], forward: Buffer.alloc(0) } : this.inner.release(timeMs);
  }
}
