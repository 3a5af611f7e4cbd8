/**
 * The one shape every streaming protocol is decoded into. After an exec, attach or port-forward
 * upgrade the gateway forwards bytes unchanged between kubectl and the API server (it does not
 * terminate WebSocket or SPDY), and feeds a copy of each direction to a passive decoder from this
 * folder: one module per protocol and transport, all yielding `StreamFrame`s, picked by one switch
 * (`decoderFor`). The recorder stores the frames; the stdin guard checks client stdin against policy.
 *
 * A decoder is stricter than the peers it watches: whatever it cannot decode exactly as the peer would
 * (a malformed frame, an unknown stream, a limit exceeded) is a `ProtocolError`, which ends that one
 * session — never the gateway — so the recording and the stdin check never see a stream different
 * from the one the pod gets.
 */
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

export interface StreamDecoder {
  /** Feed tapped bytes of one direction; returns the frames completed by them. Throws `ProtocolError`. */
  push(direction: Direction, bytes: Buffer, timeMs: number): StreamFrame[];
  /**
   * Bytes that, written to the client just before the gateway closes both sockets, make kubectl
   * report `message` as the reason (an error Status on the error channel, then a clean close).
   * Empty while the server-to-client bytes forwarded so far end inside a frame or a fragmented
   * message: a notice there would corrupt the frame in flight, so the client just sees the close.
   */
  closingNotice(message: string): Buffer;
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
  /** Largest WebSocket message after joining its fragments. */
  maxMessageBytes: number;
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
  maxMessageBytes: 16 * 1024 * 1024,
  maxHeaderBlockBytes: 64 * 1024,
  maxOpenStreams: 4096,
};

/** The decoder for a negotiated protocol; `ProtocolError` when kubegate cannot decode it. */
export function decoderFor(protocol: NegotiatedProtocol, limits: StreamLimits = defaultStreamLimits): StreamDecoder {
  return new FailOnce(pickDecoder(protocol, limits));
}

function pickDecoder(protocol: NegotiatedProtocol, limits: StreamLimits): StreamDecoder {
  if (protocol.transport === 'spdy') {
    return protocol.streamProtocol === 'portforward.k8s.io'
      ? new SpdyPortForwardDecoder(limits)
      : new SpdyRemoteCommandDecoder(protocol.streamProtocol, limits);
  }
  if (protocol.subprotocol === tunnelSubprotocol) return new WebSocketTunnelPortForwardDecoder(limits);
  if (protocol.subresource === 'portforward') return new WebSocketChannelPortForwardDecoder(protocol.subprotocol, protocol.ports ?? [], limits);
  return new WebSocketChannelDecoder(protocol.subprotocol, limits);
}

/**
 * After a `ProtocolError` a decoder's state is undefined; every later push repeats the error, so a
 * caller that keeps feeding bytes can never get frames decoded from a desynchronised stream.
 */
class FailOnce implements StreamDecoder {
  private failure?: ProtocolError;

  constructor(private readonly inner: StreamDecoder) {}

  push(direction: Direction, bytes: Buffer, timeMs: number): StreamFrame[] {
    if (this.failure) throw this.failure;
    try {
      return this.inner.push(direction, bytes, timeMs);
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
}
