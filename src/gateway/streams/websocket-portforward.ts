/**
 * port-forward over WebSocket, in its two forms:
 *
 * - `SPDY/3.1+portforward.k8s.io` (kubectl ≥ 1.31): the WebSocket is a byte pipe for a SPDY
 *   connection. The receiving end, the API server's tunnel (client-go `TunnelingConnection` over
 *   gorilla/websocket), reads it as RFC 6455 says: `NextReader` joins a message's fragments, answers
 *   control frames between them, refuses reserved bits, unknown opcodes, unmasked client frames and
 *   long or fragmented control frames, and a text message ends the tunnel. It reads the binary
 *   messages one after the other as one byte stream, so message boundaries mean nothing: each binary
 *   frame's payload goes straight into the SPDY port-forward decoder, fragments included (the API
 *   server's gorilla writer does fragment messages larger than its write buffer), and the SPDY bytes
 *   are then read as the kubelet reads them (spdy-streams.ts).
 * - the kubelet's channel scheme (`v4.channel.k8s.io`, `v4.base64.channel.k8s.io` or no subprotocol,
 *   used by client libraries): channel 2n carries data and 2n+1 errors for the n-th port of the
 *   request's `ports` query; the kubelet's first message on each channel is that port as 16-bit
 *   little-endian, and the client's messages carry no prefix. The kubelet reads it with the same
 *   x/net reader as exec, so the same rule holds (websocket-channel.ts): one frame per message, and
 *   a client message on an error channel, which the kubelet does not read, is refused.
 */
import { ProtocolError } from './decoding.js';
import type { Direction, ProtocolDecoder, StreamFrame, StreamLimits, StreamRead } from './frame.js';
import { SpdyPortForwardDecoder } from './spdy-portforward.js';
import { ChannelMessageReader, channelCodec, encodeChannelMessage, encodeNormalClose } from './websocket-channel.js';
import { controlFrame, encodeWebSocketFrame, opcodes, WebSocketTap } from './websocket-frames.js';

export const tunnelSubprotocol = 'SPDY/3.1+portforward.k8s.io';

export class WebSocketTunnelPortForwardDecoder implements ProtocolDecoder {
  private readonly tap: WebSocketTap;
  private readonly spdy: SpdyPortForwardDecoder;

  constructor(limits: StreamLimits) {
    // gorilla ends the tunnel on a text message: refused from its first bytes, so none of it is forwarded
    this.tap = new WebSocketTap(limits, { fragmentedMessages: true, textMessages: false });
    this.spdy = new SpdyPortForwardDecoder(limits);
  }

  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead {
    const frames: StreamFrame[] = [];
    for (const frame of this.tap.push(direction, bytes)) {
      if (frame.opcode >= opcodes.close) {
        const control = controlFrame(frame, direction, timeMs);
        if (control) frames.push(control);
        continue;
      }
      frames.push(...this.spdy.read(direction, frame.payload, timeMs).frames);
    }
    return { direction, frames, forward: bytes };
  }

  closingNotice(message: string): Buffer {
    const spdy = this.spdy.closingNotice(message);
    if (!this.tap.canInject() || spdy.length === 0) return Buffer.alloc(0);
    return Buffer.concat([encodeWebSocketFrame({ opcode: opcodes.binary, payload: spdy }), encodeNormalClose()]);
  }
}

/** The subprotocols the kubelet serves the channel scheme under. */
const channelPortForwardSubprotocols = new Set(['', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io']);

export class WebSocketChannelPortForwardDecoder implements ProtocolDecoder {
  private readonly reader: ChannelMessageReader;
  /** Channel → the port the kubelet announced on it. */
  private readonly announced = new Map<number, number>();

  /** `ports`: the request's `ports` query; when empty, ports are learnt from the announcements. */
  constructor(
    private readonly subprotocol: string,
    private readonly ports: readonly number[],
    limits: StreamLimits,
  ) {
    if (!channelPortForwardSubprotocols.has(subprotocol)) throw new ProtocolError(`unsupported port-forward websocket subprotocol "${subprotocol}"`);
    this.reader = new ChannelMessageReader(channelCodec(subprotocol), limits);
  }

  read(direction: Direction, bytes: Buffer, timeMs: number): StreamRead {
    const frames: StreamFrame[] = [];
    for (const { content, control } of this.reader.push(direction, bytes, timeMs)) {
      if (!content) {
        if (control) frames.push(control);
        continue;
      }
      if (content.kind === 'close') throw new ProtocolError('stream close signal in port-forward');
      const { channel } = content;
      if (direction === 'client-to-server' && channel & 1) throw new ProtocolError(`port-forward message from the client on error channel ${channel}, which the kubelet does not read`);
      const index = channel >> 1;
      if (this.ports.length > 0 && index >= this.ports.length) throw new ProtocolError(`port-forward message on channel ${channel} for ${this.ports.length} ports`);
      let data = content.data;
      if (direction === 'server-to-client' && !this.announced.has(channel)) {
        if (data.length < 2) throw new ProtocolError(`port-forward channel ${channel} opened without its port`);
        const announced = data.readUInt16LE(0);
        if (this.ports.length > 0 && announced !== this.ports[index]) throw new ProtocolError(`port-forward channel ${channel} announced port ${announced}, not ${this.ports[index]}`);
        this.announced.set(channel, announced);
        data = data.subarray(2);
      }
      if (data.length === 0) continue;
      const port = this.ports[index] ?? this.announced.get(channel & ~1) ?? this.announced.get(channel);
      frames.push({ direction, channel: channel & 1 ? 'port-error' : 'port-data', data, stream: channel, timeMs, ...(port !== undefined ? { port } : {}) });
    }
    return { direction, frames, forward: bytes };
  }

  /** `message` on every port's error channel (announcing the port first if the kubelet has not yet). */
  closingNotice(message: string): Buffer {
    if (!this.reader.canInject()) return Buffer.alloc(0);
    const errorChannels = new Map<number, number>();
    this.ports.forEach((port, index) => errorChannels.set(2 * index + 1, port));
    for (const [channel, port] of this.announced) if (channel & 1) errorChannels.set(channel, port);
    const frames: Buffer[] = [];
    for (const [channel, port] of errorChannels) {
      const prefix = this.announced.has(channel) ? Buffer.alloc(0) : Buffer.from([port & 0xff, port >> 8]);
      frames.push(encodeChannelMessage(this.subprotocol, channel, Buffer.concat([prefix, Buffer.from(message)])));
    }
    frames.push(encodeNormalClose());
    return Buffer.concat(frames);
  }
}
