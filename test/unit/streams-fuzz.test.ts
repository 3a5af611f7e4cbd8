/**
 * Random and mutated byte streams into every decoder: each must yield frames or throw
 * `ProtocolError` — never another exception, never hang, never allocate a buffer larger than the
 * configured limits allow. Seeded, so a failure replays; bounded to a few seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, inflateRawSync } from 'node:zlib';
import { decoderFor, ProtocolError, type Direction, type NegotiatedProtocol, type StreamLimits } from '../../src/gateway/streams/frame.js';
import { SpdyFrameEncoder, type SpdyFrame } from '../../src/gateway/streams/spdy-frames.js';
import { HeaderDeflater, HeaderInflater, spdyDictionary } from '../../src/gateway/streams/spdy-zlib.js';
import { closePayload, encodeWebSocketFrame, opcodes } from '../../src/gateway/streams/websocket-frames.js';
import { prng } from '../harness/prng.js';

const limits: StreamLimits = { maxFrameBytes: 4096, maxHeaderBlockBytes: 4096, maxOpenStreams: 16 };
/** Largest buffer a decoder may need: a frame with its header, or the inflate window plus a header block. */
const allocationBound = Math.max(limits.maxFrameBytes + 14, 32 * 1024 + limits.maxHeaderBlockBytes);

type Transcript = Record<Direction, Buffer>;

const key = Buffer.from([1, 2, 3, 4]);
const ws = (opcode: number, payload: Buffer | string, fin = true, masked = false) =>
  encodeWebSocketFrame({ opcode, payload: Buffer.from(payload), fin, ...(masked ? { maskKey: key } : {}) });

function spdyPair(streams: Record<string, string>[], clientData: [number, string, boolean][], serverData: [number, string, boolean][]): Transcript {
  const client = new SpdyFrameEncoder();
  const server = new SpdyFrameEncoder();
  const frames = (encoder: SpdyFrameEncoder, list: SpdyFrame[]) => Buffer.concat(list.map((f) => encoder.encode(f)));
  return {
    'client-to-server': frames(client, [
      ...streams.map((headers, i): SpdyFrame => ({ type: 'syn_stream', streamId: 2 * i + 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: new Map(Object.entries(headers).map(([k, v]) => [k, [v]])) })),
      { type: 'ping', id: 1 },
      ...clientData.map(([streamId, text, fin]): SpdyFrame => ({ type: 'data', streamId, fin, data: Buffer.from(text) })),
    ]),
    'server-to-client': frames(server, [
      ...streams.map((_, i): SpdyFrame => ({ type: 'syn_reply', streamId: 2 * i + 1, fin: false, headers: new Map() })),
      ...serverData.map(([streamId, text, fin]): SpdyFrame => ({ type: 'data', streamId, fin, data: Buffer.from(text) })),
      { type: 'goaway', lastGoodStreamId: 0, status: 0 },
    ]),
  };
}

const spdyExec = spdyPair([{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'resize' }], [[7, '{"Width":1,"Height":2}', false], [3, 'ls\n', true]], [[5, 'out', true], [1, '{}', true]]);
const spdyPortForward = spdyPair([{ streamtype: 'error', port: '80', requestid: '0' }, { streamtype: 'data', port: '80', requestid: '0' }], [[3, 'GET /', false]], [[3, 'HTTP/1.1 200', true], [1, 'refused', true]]);

const cases: { protocol: NegotiatedProtocol; transcript: Transcript }[] = [
  {
    protocol: { transport: 'websocket', subprotocol: 'v5.channel.k8s.io' },
    transcript: {
      'client-to-server': Buffer.concat([ws(2, Buffer.from([0, 0x6c, 0x73]), true, true), ws(9, '', true, true), ws(2, Buffer.from([0, 0x0a]), true, true), ws(2, Buffer.from([255, 0]), true, true), ws(8, closePayload(1000), true, true)]),
      'server-to-client': Buffer.concat([ws(2, Buffer.from([1])), ws(2, Buffer.from([1, 0x61])), ws(2, Buffer.from([3, 0x7b, 0x7d])), ws(8, closePayload(1000, 'x'))]),
    },
  },
  {
    protocol: { transport: 'websocket', subprotocol: 'v4.base64.channel.k8s.io' },
    transcript: { 'client-to-server': ws(1, '0bHMK', true, true), 'server-to-client': Buffer.concat([ws(1, '1YQ=='), ws(1, '2Yg==')]) },
  },
  {
    protocol: { transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [80, 443] },
    transcript: { 'client-to-server': ws(2, Buffer.from([2, 0x61]), true, true), 'server-to-client': Buffer.concat([...[0, 1, 2, 3].map((c) => ws(2, Buffer.from([c, 80, 0]))), ws(2, Buffer.from([3, 0x65]))]) },
  },
  {
    protocol: { transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' },
    transcript: { 'client-to-server': ws(2, spdyPortForward['client-to-server'], true, true), 'server-to-client': ws(2, spdyPortForward['server-to-client']) },
  },
  { protocol: { transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' }, transcript: spdyExec },
  { protocol: { transport: 'spdy', streamProtocol: 'portforward.k8s.io' }, transcript: spdyPortForward },
];

function mutate(bytes: Buffer, random: (n: number) => number): Buffer {
  let out = Buffer.from(bytes);
  for (let edits = random(4) === 0 ? 2 + random(4) : 1; edits > 0; edits--) {
    const at = random(out.length + 1);
    switch (random(6)) {
      case 0: // flip a bit
        if (out.length > 0) out[at % out.length]! ^= 1 << random(8);
        break;
      case 1: // an interesting byte
        if (out.length > 0) out[at % out.length] = [0, 0x7f, 0x80, 0xff, 126, 127][random(6)]!;
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), randomBytes(random, 1 + random(16)), out.subarray(at)]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + random(16))]);
        break;
      case 4: // repeat a stretch
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + random(64)), out.subarray(at)]);
        break;
      default:
        out = out.subarray(0, at);
    }
  }
  return out;
}

function randomBytes(random: (n: number) => number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => random(256)));
}

/** Runs `fn` while recording the largest buffer allocated through Buffer's allocators. */
function largestAllocation(fn: () => void): number {
  const originals = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  let largest = 0;
  const wrap = <F extends (size: number, ...rest: never[]) => Buffer>(original: F): F =>
    ((size: number, ...rest: never[]) => {
      largest = Math.max(largest, size);
      return original(size, ...rest);
    }) as F;
  Buffer.alloc = wrap(originals.alloc);
  Buffer.allocUnsafe = wrap(originals.allocUnsafe);
  Buffer.allocUnsafeSlow = wrap(originals.allocUnsafeSlow);
  try {
    fn();
  } finally {
    Object.assign(Buffer, originals);
  }
  return largest;
}

test('random and mutated streams into every decoder: frames or ProtocolError, within the limits', () => {
  const random = prng(0x6b756265);
  const started = Date.now();
  const outcomes = { frames: 0, protocolErrors: 0 };
  for (let iteration = 0; iteration < 12_000; iteration++) {
    const { protocol, transcript } = cases[iteration % cases.length]!;
    const input: Transcript =
      iteration % 5 === 0
        ? { 'client-to-server': randomBytes(random, random(600)), 'server-to-client': randomBytes(random, random(600)) }
        : { 'client-to-server': mutate(transcript['client-to-server'], random), 'server-to-client': mutate(transcript['server-to-client'], random) };
    const decoder = decoderFor(protocol, { limits });
    const offsets = { 'client-to-server': 0, 'server-to-client': 0 };
    const iterationStart = Date.now();
    const largest = largestAllocation(() => {
      for (;;) {
        const open = (['client-to-server', 'server-to-client'] as const).filter((d) => offsets[d] < input[d].length);
        if (open.length === 0) return;
        const direction = open[random(open.length)]!;
        const chunk = input[direction].subarray(offsets[direction], offsets[direction] + 1 + random(300));
        offsets[direction] += chunk.length;
        try {
          for (const frame of decoder.read(direction, chunk, iteration).frames) {
            assert.ok(frame.data.length <= limits.maxFrameBytes);
            outcomes.frames++;
          }
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw new Error(`iteration ${iteration} (${JSON.stringify(protocol)}): ${String(error)}`, { cause: error });
          outcomes.protocolErrors++;
          return;
        }
      }
    });
    assert.ok(largest <= allocationBound, `iteration ${iteration} allocated ${largest} bytes`);
    assert.ok(Date.now() - iterationStart < 2000, `iteration ${iteration} took too long`);
  }
  assert.ok(outcomes.frames > 100 && outcomes.protocolErrors > 100, JSON.stringify(outcomes));
  assert.ok(Date.now() - started < 10_000);
});

test('a header block the inflater accepts inflates exactly as zlib inflates it', () => {
  const random = prng(42);
  const first = Buffer.from('\u0000\u0000\u0000\u0001\u0000\u0000\u0000\nstreamtype\u0000\u0000\u0000\u0005stdin', 'latin1');
  const window = Buffer.concat([spdyDictionary, first]);
  // a short block (fixed Huffman codes) and a long varied one (dynamic codes), each after `first`
  const seconds = [
    Buffer.from('streamtype stdout port 8080 requestid 12 streamtype stdin'),
    Buffer.from(Array.from({ length: 900 }, () => 'eeeeeeeetttttaaaoinshrdlu'[random(25)]).join('') + 'streamtype'.repeat(20)),
  ].map((block) => {
    const deflater = new HeaderDeflater();
    return { firstBlock: deflater.deflate(first), secondBlock: deflater.deflate(block) };
  });
  assert.equal((seconds[1]!.secondBlock[0]! >> 1) & 3, 2, 'the long block uses dynamic Huffman codes');
  let accepted = 0;
  for (let trial = 0; trial < 10_000; trial++) {
    const { firstBlock, secondBlock } = seconds[trial % 2]!;
    const mutated = trial % 5 === 0 ? randomBytes(random, 1 + random(40)) : mutate(secondBlock, random);
    const inflater = new HeaderInflater(limits.maxHeaderBlockBytes);
    inflater.inflate(firstBlock);
    let ours: Buffer;
    try {
      ours = inflater.inflate(mutated);
    } catch (error) {
      assert.ok(error instanceof ProtocolError, String(error));
      continue;
    }
    accepted++;
    assert.deepEqual(ours, inflateRawSync(mutated, { dictionary: window, finishFlush: constants.Z_SYNC_FLUSH }), `trial ${trial}`);
  }
  assert.ok(accepted > 100, `only ${accepted} mutated blocks were valid`);
});
