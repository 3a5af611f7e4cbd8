/**
 * Random client frame sequences for an exec, per protocol, for the differential stream test
 * (test/integration/stream-differential.test.ts). A dialect says how to upgrade, what to send first,
 * how to write a stdin line (the test's checkpoints) and how to end; its steps are the frames to send,
 * each marked with whether the gateway's documented reading rule (src/gateway/streams/) refuses it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SpdyFrameEncoder, type SpdyFrame } from '../../src/gateway/streams/spdy-frames.js';
import { closePayload, encodeWebSocketFrame, opcodes } from '../../src/gateway/streams/websocket-frames.js';

export type Random = (n: number) => number;

/** One step of a sequence: the client bytes it sends and a name for the printed summary. */
export interface Step {
  name: string;
  bytes: Buffer;
  /** Whether the documented rule refuses it. */
  refused: boolean;
  /** Nothing may follow on stdin (the v5 close signal, a SPDY FIN on stdin). */
  last?: boolean;
}

export interface Dialect {
  name: string;
  /** What the sequence talks to: an exec's stdin, or a port-forward's data stream. */
  target: 'exec' | 'portforward';
  method: string;
  headers: Record<string, string>;
  /** Whether the 101 chose this dialect. */
  accepted(response: IncomingMessage): boolean;
  /** Sent right after the upgrade (SPDY: the streams kubectl opens). */
  opening(): Buffer;
  /** A new sequence; its bytes follow the opening's (SPDY header compression depends on the order). */
  steps(): Step[];
  /** `data` as input to the target: on stdin, or on the port-forward data stream. */
  input(data: Buffer): Buffer;
  closing(): Buffer;
}

export const websocketSubprotocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;
type Subprotocol = (typeof websocketSubprotocols)[number];

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 .-_/\n';

function text(random: Random, max: number): Buffer {
  return Buffer.from(Array.from({ length: 1 + random(max) }, () => alphabet[random(alphabet.length)]).join(''));
}

/** `steps` random steps from `pick`, plus the dialect's possible last step. */
function sequence(random: Random, pick: () => Step, last?: () => Step | undefined): Step[] {
  const steps = Array.from({ length: 3 + random(5) }, pick);
  const final = last?.();
  return final ? [...steps, final] : steps;
}

export function websocketDialect(random: Random, subprotocol: Subprotocol): Dialect {
  const base64 = subprotocol === 'v4.base64.channel.k8s.io';
  const frame = (opcode: number, payload: Buffer, fin = true) => encodeWebSocketFrame({ opcode, payload, fin, maskKey: Buffer.from([random(256), random(256), random(256), random(256)]) });
  const message = (channel: number, data: Buffer) =>
    base64 ? { opcode: opcodes.text, payload: Buffer.from(`${channel}${data.toString('base64')}`) } : { opcode: opcodes.binary, payload: Buffer.concat([Buffer.from([channel]), data]) };
  /** One message as frames: whole, or cut into 2–4 fragments with pings or pongs between them. */
  const frames = (m: { opcode: number; payload: Buffer }, fragmented: boolean): Buffer => {
    if (!fragmented) return frame(m.opcode, m.payload);
    const cuts = Array.from({ length: 1 + random(3) }, () => random(m.payload.length + 1)).sort((a, b) => a - b);
    const parts = [0, ...cuts].map((start, i) => m.payload.subarray(start, [...cuts, m.payload.length][i]));
    return Buffer.concat(
      parts.flatMap((part, i) => {
        const fragment = frame(i === 0 ? m.opcode : opcodes.continuation, part, i === parts.length - 1);
        const control = i > 0 && random(3) === 0 ? [frame(random(2) === 0 ? opcodes.ping : opcodes.pong, text(random, 8))] : [];
        return [...control, fragment];
      }),
    );
  };
  // A resize is sent at most once: without a TTY nobody reads the server's resize queue, so the API
  // server and the kubelet stop reading the connection at the second one.
  let resized = false;
  const pick = (): Step => {
    const roll = random(20);
    if (roll < 11 || roll === 19) {
      const fragmented = random(6) === 0;
      return { name: fragmented ? 'stdin fragmented' : 'stdin', bytes: frames(message(0, text(random, 40)), fragmented), refused: fragmented };
    }
    if (roll === 11) return { name: 'empty message', bytes: frame(base64 ? opcodes.text : opcodes.binary, Buffer.alloc(0)), refused: false };
    if (roll === 12) return { name: 'ping', bytes: frame(opcodes.ping, text(random, 20)), refused: false };
    if (roll === 13) return { name: 'pong', bytes: frame(opcodes.pong, text(random, 20)), refused: false };
    if (roll === 14) return { name: 'orphan continuation', bytes: frame(opcodes.continuation, message(0, text(random, 20)).payload), refused: true };
    if (resized) return { name: 'ping', bytes: frame(opcodes.ping, Buffer.alloc(0)), refused: false };
    resized = true;
    const resize = message(4, Buffer.from(JSON.stringify({ Width: 20 + random(200), Height: 5 + random(60) })));
    if (roll < 18) {
      const fragmented = random(4) === 0;
      return { name: fragmented ? 'resize fragmented' : 'resize', bytes: frames(resize, fragmented), refused: fragmented };
    }
    // the trick of issue 10: a resize with FIN=0, then a continuation x/net reads as a stdin message
    const trick = message(0, Buffer.from(`echo trick ${random(1000)}\n`)).payload;
    return { name: 'resize FIN=0 + stdin continuation', bytes: Buffer.concat([frame(resize.opcode, resize.payload, false), frame(opcodes.continuation, trick)]), refused: true };
  };
  const stdinClose = (): Step | undefined =>
    subprotocol === 'v5.channel.k8s.io' && random(4) === 0 ? { name: 'stdin close', bytes: frame(opcodes.binary, Buffer.from([255, 0])), refused: false, last: true } : undefined;
  return {
    name: subprotocol,
    target: 'exec',
    method: 'GET',
    headers: { upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': subprotocol },
    accepted: (response) => response.headers['sec-websocket-protocol'] === subprotocol,
    opening: () => Buffer.alloc(0),
    steps: () => sequence(random, pick, stdinClose),
    input: (data) => {
      const m = message(0, data);
      return frame(m.opcode, m.payload);
    },
    closing: () => frame(opcodes.close, closePayload(1000)),
  };
}

/** exec over SPDY as kubectl opens it (error, stdin, stdout, stderr), then random frames. */
export function spdyDialect(random: Random): Dialect {
  const encoder = new SpdyFrameEncoder();
  const stdinStream = 3;
  let nextStream = 9;
  let pingId = 1;
  const syn = (streamId: number, streamtype: string): SpdyFrame => ({ type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: new Map([['streamtype', [streamtype]]]) });
  const data = (streamId: number, bytes: Buffer, fin = false) => encoder.encode({ type: 'data', streamId, fin, data: bytes });
  /** Stdin as 1–3 data frames. */
  const stdinFrames = (bytes: Buffer) => {
    const cut = random(bytes.length + 1);
    return random(2) === 0 ? data(stdinStream, bytes) : Buffer.concat([data(stdinStream, bytes.subarray(0, cut)), data(stdinStream, bytes.subarray(cut))]);
  };
  const pick = (): Step => {
    const roll = random(20);
    if (roll < 11) return { name: 'stdin', bytes: stdinFrames(text(random, 40)), refused: false };
    if (roll === 11) return { name: 'empty data', bytes: data(stdinStream, Buffer.alloc(0)), refused: false };
    if (roll === 12) return { name: 'ping', bytes: encoder.encode({ type: 'ping', id: (pingId += 2) }), refused: false };
    if (roll === 13) return { name: 'settings', bytes: encoder.encode({ type: 'settings', clearSettings: false, entries: [{ id: 7, flags: 0, value: 65536 }] }), refused: false };
    if (roll === 14) return { name: 'window update', bytes: encoder.encode({ type: 'window_update', streamId: random(2) === 0 ? 0 : stdinStream, deltaWindowSize: 1 + random(65536) }), refused: false };
    if (roll === 15) {
      // the kubelet keeps the last stdin stream and leaves the first unread
      const second = nextStream;
      nextStream += 2;
      return { name: 'second stdin stream', bytes: Buffer.concat([encoder.encode(syn(second, 'stdin')), data(second, Buffer.from(`echo second ${random(1000)}\n`))]), refused: true };
    }
    if (roll === 16) return { name: 'HEADERS on stdin', bytes: encoder.encode({ type: 'headers', streamId: stdinStream, fin: false, headers: new Map([['x', ['y']]]) }), refused: true };
    if (roll === 17) return { name: 'data on an unopened stream', bytes: data(nextStream + 2 * random(4), text(random, 10)), refused: true };
    return { name: 'stdin', bytes: stdinFrames(text(random, 40)), refused: false };
  };
  // encoded first: header blocks share the encoder's compression context, in the order they are sent
  const opening = Buffer.concat([syn(1, 'error'), syn(stdinStream, 'stdin'), syn(5, 'stdout'), syn(7, 'stderr')].map((frame) => encoder.encode(frame)));
  const stdinFin = (): Step | undefined => (random(4) === 0 ? { name: 'stdin FIN', bytes: data(stdinStream, Buffer.alloc(0), true), refused: false, last: true } : undefined);
  return {
    name: 'SPDY v4.channel.k8s.io',
    target: 'exec',
    method: 'POST',
    headers: { upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    accepted: (response) => response.headers['x-stream-protocol-version'] === 'v4.channel.k8s.io',
    opening: () => opening,
    steps: () => sequence(random, pick, stdinFin),
    input: (bytes) => data(stdinStream, bytes),
    closing: () => encoder.encode({ type: 'goaway', lastGoodStreamId: 0, status: 0 }),
  };
}

/**
 * port-forward over `SPDY/3.1+portforward.k8s.io`, as kubectl opens it (an error and a data stream for
 * `port`): SPDY bytes cut anywhere into binary messages, fragmented with control frames between the
 * fragments, as the API server's gorilla reader allows; and what gorilla or the kubelet refuses.
 */
export function tunnelDialect(random: Random, port: number): Dialect {
  const encoder = new SpdyFrameEncoder();
  const dataStream = 3;
  let pingId = 1;
  const frame = (opcode: number, payload: Buffer, fin = true) => encodeWebSocketFrame({ opcode, payload, fin, maskKey: Buffer.from([random(256), random(256), random(256), random(256)]) });
  const syn = (streamId: number, streamtype: string): SpdyFrame => ({
    type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false,
    headers: new Map([['streamtype', [streamtype]], ['port', [String(port)]], ['requestid', ['0']]]),
  });
  /** SPDY bytes as 1–3 binary messages cut anywhere, each possibly in fragments with a ping or pong between them. */
  const wrap = (spdy: Buffer): Buffer => {
    const cuts = Array.from({ length: random(3) }, () => random(spdy.length + 1)).sort((a, b) => a - b);
    const messages = [0, ...cuts].map((start, i) => spdy.subarray(start, [...cuts, spdy.length][i]));
    return Buffer.concat(
      messages.flatMap((message) => {
        if (random(3) > 0) return [frame(opcodes.binary, message)];
        const half = random(message.length + 1);
        return [frame(opcodes.binary, message.subarray(0, half), false), frame(random(2) === 0 ? opcodes.ping : opcodes.pong, text(random, 8)), frame(opcodes.continuation, message.subarray(half))];
      }),
    );
  };
  const data = (bytes: Buffer, streamId = dataStream) => wrap(encoder.encode({ type: 'data', streamId, fin: false, data: bytes }));
  const opening = wrap(Buffer.concat([syn(1, 'error'), syn(dataStream, 'data')].map((f) => encoder.encode(f))));
  const pick = (): Step => {
    const roll = random(28);
    if (roll < 11 || roll > 18) return { name: 'data', bytes: data(text(random, 40)), refused: false };
    if (roll === 11) return { name: 'websocket ping', bytes: frame(opcodes.ping, text(random, 20)), refused: false };
    if (roll === 12) return { name: 'SPDY ping', bytes: wrap(encoder.encode({ type: 'ping', id: (pingId += 2) })), refused: false };
    if (roll === 13) return { name: 'text message', bytes: frame(opcodes.text, encoder.encode({ type: 'data', streamId: dataStream, fin: false, data: text(random, 10) })), refused: true };
    if (roll === 14) return { name: 'fragmented ping', bytes: Buffer.concat([frame(opcodes.ping, Buffer.from('a'), false), frame(opcodes.continuation, Buffer.from('b'))]), refused: true };
    if (roll === 15) {
      const reserved = frame(opcodes.binary, encoder.encode({ type: 'data', streamId: dataStream, fin: false, data: text(random, 10) }));
      reserved[0] = reserved[0]! | 0x40;
      return { name: 'RSV1 message', bytes: reserved, refused: true };
    }
    if (roll === 16) return { name: 'orphan continuation', bytes: frame(opcodes.continuation, encoder.encode({ type: 'data', streamId: dataStream, fin: false, data: text(random, 10) })), refused: true };
    if (roll === 17) return { name: 'HEADERS on data', bytes: wrap(encoder.encode({ type: 'headers', streamId: dataStream, fin: false, headers: new Map([['x', ['y']]]) })), refused: true };
    return { name: 'data on an unopened stream', bytes: data(text(random, 10), 5 + 2 * random(4)), refused: true };
  };
  return {
    name: 'SPDY/3.1+portforward.k8s.io',
    target: 'portforward',
    method: 'GET',
    headers: { upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io' },
    accepted: (response) => response.headers['sec-websocket-protocol'] === 'SPDY/3.1+portforward.k8s.io',
    opening: () => opening,
    steps: () => sequence(random, pick),
    input: (bytes) => data(bytes),
    closing: () => frame(opcodes.close, closePayload(1000)),
  };
}
