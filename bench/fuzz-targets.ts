/**
 * The fuzz targets of fuzz-streams.ts: each turns one generated input (a seed, mutations, chunk cuts)
 * into a run of the code under test, and names the errors that code may throw by design.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../src/gateway/errors.js';
import { parseRequestAttributes } from '../src/gateway/request-attributes.js';
import { decoderFor, ProtocolError, type Direction, type NegotiatedProtocol, type StreamLimits } from '../src/gateway/streams/frame.js';
import { SpdyFrameEncoder, type SpdyFrame } from '../src/gateway/streams/spdy-frames.js';
import { HeaderInflater } from '../src/gateway/streams/spdy-zlib.js';
import { encodeWebSocketFrame, opcodes, WebSocketParser } from '../src/gateway/streams/websocket-frames.js';
import { Masker, MaskingError } from '../src/policy/masking/masker.js';
import { packageRoot } from '../src/util/package-root.js';

export interface Mutation {
  kind: 'flip' | 'byte' | 'insert' | 'delete' | 'repeat' | 'truncate' | 'splice';
  /** For two-sided inputs: which side the mutation applies to. */
  side: boolean;
  at: number;
  value: number;
  length: number;
  bytes: Uint8Array;
  /** splice: the seed whose bytes are spliced in. */
  other: number;
}

export interface FuzzInput {
  seed: number;
  mutations: Mutation[];
  /** Chunk sizes (mod 300, plus one) the bytes are fed in. */
  cuts: number[];
  /** A target's own choice (method, masking context, …). */
  variant: number;
}

export interface FuzzTarget {
  run(input: FuzzInput): void;
  declared: (abstract new (...args: never[]) => Error)[];
}

function mutate(bytes: Buffer, mutation: Mutation, other: Buffer): Buffer {
  const at = mutation.at % (bytes.length + 1);
  switch (mutation.kind) {
    case 'flip':
      if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << (mutation.value & 7);
      return bytes;
    case 'byte':
      if (bytes.length > 0) bytes[at % bytes.length] = mutation.value;
      return bytes;
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + mutation.length)]);
    case 'repeat':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 1 + mutation.length), bytes.subarray(at)]);
    case 'truncate':
      return bytes.subarray(0, at);
    case 'splice':
      return Buffer.concat([bytes.subarray(0, at), other.subarray(mutation.value % (other.length + 1))]);
  }
}

/** A seed, mutated: `sides` copies of its parts, each mutation applied to the part its `side` picks. */
function mutated(parts: Buffer[], input: FuzzInput, others: (index: number) => Buffer): Buffer[] {
  const out: Buffer[] = parts.map((part) => Buffer.from(part));
  for (const mutation of input.mutations) {
    const side = parts.length > 1 && mutation.side ? 1 : 0;
    out[side] = mutate(out[side]!, mutation, others(mutation.other));
  }
  return out;
}

/** `bytes` cut into chunks of the sizes `cuts` names, cycling. */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = cuts.length === 0 ? bytes.length : 1 + (cuts[i % cuts.length]! % 300);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

interface Transcript {
  protocol: NegotiatedProtocol;
  'client-to-server': Buffer;
  'server-to-client': Buffer;
}

const limits: StreamLimits = { maxFrameBytes: 64 * 1024, maxHeaderBlockBytes: 16 * 1024, maxOpenStreams: 64 };
const masking = { secrets: true, fields: ['data.token', "$.metadata.annotations['secret']", 'items[*].data'], patterns: ['AKIA[0-9A-Z]{16}', 'password=\\S{1,64}', 'secret'] };
const masker = Masker.compile(masking);

interface Capture {
  path: string;
  transport: 'websocket' | 'spdy';
  protocol: string;
  clientToServer: string;
  serverToClient: string;
}

/** kubectl's traffic as captured through the gateway (test/fixtures/streams/). */
const captures: Capture[] = (() => {
  const dir = join(packageRoot(), 'test', 'fixtures', 'streams');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Capture);
})();

function captured(transport: Capture['transport']): Transcript {
  const capture = captures.find((c) => c.transport === transport);
  if (!capture) throw new Error(`no ${transport} capture in test/fixtures/streams`);
  const protocol: NegotiatedProtocol = transport === 'spdy' ? { transport, streamProtocol: capture.protocol } : { transport, subprotocol: capture.protocol };
  return { protocol, 'client-to-server': Buffer.from(capture.clientToServer, 'base64'), 'server-to-client': Buffer.from(capture.serverToClient, 'base64') };
}

const maskKey = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/** The captured v5 exec re-encoded for the base64 subprotocol: each channel message as a text frame (v5's close signal dropped). */
function base64Variant(v5: Transcript): Transcript {
  const reencode = (bytes: Buffer, masked: boolean) =>
    Buffer.concat(
      new WebSocketParser({ masked, maxPayloadBytes: limits.maxFrameBytes }).push(bytes).flatMap((frame) => {
        if (frame.opcode !== opcodes.binary) return [encodeWebSocketFrame({ opcode: frame.opcode, payload: frame.payload, ...(masked ? { maskKey } : {}) })];
        if (frame.payload.length === 0 || frame.payload[0]! > 9) return [];
        const payload = Buffer.from(`${frame.payload[0]}${frame.payload.subarray(1).toString('base64')}`);
        return [encodeWebSocketFrame({ opcode: opcodes.text, payload, ...(masked ? { maskKey } : {}) })];
      }),
    );
  return { protocol: { transport: 'websocket', subprotocol: 'v4.base64.channel.k8s.io' }, 'client-to-server': reencode(v5['client-to-server'], true), 'server-to-client': reencode(v5['server-to-client'], false) };
}

/** A port-forward over SPDY as kubectl and the kubelet frame it: an error and a data stream for port 80. */
function spdyPortForward(): Transcript {
  const client = new SpdyFrameEncoder();
  const server = new SpdyFrameEncoder();
  const syn = (streamId: number, streamtype: string): SpdyFrame => ({ type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: new Map([['streamtype', [streamtype]], ['port', ['80']], ['requestid', ['0']]]) });
  const frames = (encoder: SpdyFrameEncoder, list: SpdyFrame[]) => Buffer.concat(list.map((frame) => encoder.encode(frame)));
  return {
    protocol: { transport: 'spdy', streamProtocol: 'portforward.k8s.io' },
    'client-to-server': frames(client, [syn(1, 'error'), syn(3, 'data'), { type: 'ping', id: 1 }, { type: 'data', streamId: 3, fin: false, data: Buffer.from('GET / HTTP/1.1\r\n\r\n') }, { type: 'data', streamId: 3, fin: true, data: Buffer.alloc(0) }]),
    'server-to-client': frames(server, [{ type: 'syn_reply', streamId: 1, fin: false, headers: new Map() }, { type: 'syn_reply', streamId: 3, fin: false, headers: new Map() }, { type: 'data', streamId: 3, fin: true, data: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') }, { type: 'goaway', lastGoodStreamId: 0, status: 0 }]),
  };
}

/** SPDY bytes inside WebSocket binary messages, cut into fragments with a ping between two of them. */
function tunnelled(spdy: Transcript): Transcript {
  const wrap = (bytes: Buffer, masked: boolean) => {
    const key = masked ? { maskKey } : {};
    const half = bytes.length >> 1;
    return Buffer.concat([
      encodeWebSocketFrame({ opcode: opcodes.binary, payload: bytes.subarray(0, half), fin: false, ...key }),
      encodeWebSocketFrame({ opcode: opcodes.ping, payload: Buffer.from('p'), ...key }),
      encodeWebSocketFrame({ opcode: opcodes.continuation, payload: bytes.subarray(half), ...key }),
    ]);
  };
  return { protocol: { transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' }, 'client-to-server': wrap(spdy['client-to-server'], true), 'server-to-client': wrap(spdy['server-to-client'], false) };
}

/** Port-forward over the kubelet's channel scheme: port announcements, then data both ways. */
function channelPortForward(): Transcript {
  const client = (payload: number[]) => encodeWebSocketFrame({ opcode: opcodes.binary, payload: Buffer.from(payload), maskKey });
  const server = (payload: number[]) => encodeWebSocketFrame({ opcode: opcodes.binary, payload: Buffer.from(payload) });
  return {
    protocol: { transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [80] },
    'client-to-server': Buffer.concat([client([0, ...Buffer.from('GET /')])]),
    'server-to-client': Buffer.concat([server([0, 80, 0]), server([1, 80, 0]), server([0, ...Buffer.from('HTTP/1.1 200')]), server([1, ...Buffer.from('refused')])]),
  };
}

/** Feeds both sides in alternating chunks, then asks for a closing notice and the held output. */
function decode(transcript: Transcript, input: FuzzInput, others: (index: number) => Buffer): void {
  const [up, down] = mutated([transcript['client-to-server'], transcript['server-to-client']], input, others);
  const decoder = decoderFor(transcript.protocol, { limits, ...(input.variant % 2 === 0 ? { outputMasker: masker } : {}) });
  const sides: [Direction, Buffer[]][] = [
    ['client-to-server', chunks(up!, input.cuts)],
    ['server-to-client', chunks(down!, input.cuts.slice().reverse())],
  ];
  for (let i = 0; sides.some(([, list]) => i < list.length); i++) {
    for (const [direction, list] of sides) if (i < list.length) decoder.read(direction, list[i]!, i);
  }
  decoder.closingNotice('fuzz');
  decoder.release(1);
}

function transcriptTarget(seeds: Transcript[]): FuzzTarget {
  const others = (index: number) => seeds[index % seeds.length]!['client-to-server'];
  return { declared: [ProtocolError], run: (input) => decode(seeds[input.seed % seeds.length]!, input, others) };
}

/** The compressed header blocks of a SPDY byte stream, in order (SYN_STREAM, SYN_REPLY, HEADERS). */
function headerBlocks(bytes: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  for (let at = 0; at + 8 <= bytes.length; ) {
    const length = bytes.readUIntBE(at + 5, 3);
    const type = bytes[at]! & 0x80 ? bytes.readUInt16BE(at + 2) : 0;
    const skip = { 1: 10, 2: 4, 8: 4 }[type];
    if (skip !== undefined) blocks.push(bytes.subarray(at + 8 + skip, at + 8 + length));
    at += 8 + length;
  }
  return blocks;
}

/** Each direction's header blocks of the captured SPDY exec: one zlib context each. */
const headerStreams = [headerBlocks(captured('spdy')['client-to-server']), headerBlocks(captured('spdy')['server-to-client'])].filter((blocks) => blocks.length > 0);

const paths = [
  ...captures.map((capture) => capture.path),
  '/api/v1/namespaces/payments/pods/web-0/exec?command=sh&command=-c&command=ls&stdin=true&tty=true',
  '/api/v1/namespaces/payments/pods/web-0/portforward?ports=8080',
  '/api/v1/namespaces/payments/secrets/db?fieldManager=kubectl&timeout=30s',
  '/apis/apps/v1/namespaces/payments/deployments/web/scale',
  '/api/v1/nodes/kwok-node/proxy/exec/ns/pod/c?command=id',
  '/api/v1/namespaces/payments/services/https:web:8443/proxy/healthz?probe=a%20b',
  '/apis/kubegate.dev/v1alpha1/namespaces/gw/accessgrants?watch=1&resourceVersion=0',
  '/openapi/v3/apis/apps/v1?hash=ABC',
  '/version',
];
const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT'];

const bodies = [
  { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', annotations: { secret: 'x' } }, data: { password: 'aHVudGVyMg==', token: 't' }, stringData: { url: 'password=hunter2' } },
  { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'a' }, data: { k: 'dg==' } }] },
  { type: 'MODIFIED', object: { kind: 'Secret', metadata: { name: 'w' }, data: { k: 'dg==' } } },
  { kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name' }, { name: 'Data' }], rows: [{ cells: ['db', 'AKIAABCDEFGHIJKLMNOP'], object: { kind: 'PartialObjectMetadata' } }] },
  { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { env: 'AWS_KEY=AKIAABCDEFGHIJKLMNOP password=x' } },
].map((body) => Buffer.from(JSON.stringify(body)));

function maskBody(input: FuzzInput): void {
  const [body] = mutated([bodies[input.seed % bodies.length]!], input, (index) => bodies[index % bodies.length]!);
  const context = { secrets: input.variant % 2 === 0 };
  const json = masker.createJsonStreamMasker(context);
  const text = masker.createStreamMasker();
  for (const chunk of chunks(body!, input.cuts)) {
    json.push(chunk);
    text.push(chunk);
  }
  json.flush();
  text.flush();
  masker.maskText(body!.toString('latin1'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body!.toString());
  } catch {
    return; // not JSON: the JSON masker above had it
  }
  masker.maskObject(parsed, context);
}

export const fuzzTargets: Record<string, FuzzTarget> = {
  websocket: transcriptTarget([captured('websocket'), { ...captured('websocket'), protocol: { transport: 'websocket', subprotocol: 'v4.channel.k8s.io' } }, base64Variant(captured('websocket')), tunnelled(spdyPortForward()), channelPortForward()]),
  spdy: transcriptTarget([captured('spdy'), spdyPortForward()]),
  zlib: {
    declared: [ProtocolError],
    run: (input) => {
      const blocks = headerStreams[input.seed % headerStreams.length]!.slice();
      const index = input.variant % blocks.length;
      blocks[index] = mutated([blocks[index]!], input, (other) => blocks[other % blocks.length]!)[0]!;
      const inflater = new HeaderInflater(limits.maxHeaderBlockBytes);
      for (const block of blocks) inflater.inflate(block);
    },
  },
  path: {
    declared: [GatewayError],
    run: (input) => {
      const [path] = mutated([Buffer.from(paths[input.seed % paths.length]!, 'latin1')], input, (index) => Buffer.from(paths[index % paths.length]!, 'latin1'));
      parseRequestAttributes(methods[input.variant % methods.length]!, path!.toString('latin1'));
    },
  },
  masker: { declared: [MaskingError], run: maskBody },
};
