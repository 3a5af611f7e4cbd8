import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { constants, createDeflate, deflateRawSync, deflateSync } from 'node:zlib';
import { decoderFor, defaultStreamLimits, ProtocolError, type Direction, type StreamDecoder, type StreamFrame } from '../../src/gateway/streams/frame.js';
import { decodeHeaderBlock, encodeHeaderBlock, SpdyFrameEncoder, SpdyParser, type SpdyFrame, type SpdyHeaders } from '../../src/gateway/streams/spdy-frames.js';
import { HeaderDeflater, HeaderInflater, spdyDictionary } from '../../src/gateway/streams/spdy-zlib.js';

/**
 * Frames written by Go's SPDY framer (moby/spdystream v0.5.1, the one kubectl and the kubelet use),
 * one shared header compression context per direction. Port-forward, client to server: SYN_STREAM 1
 * error/8080, SYN_STREAM 3 data/8080, data 3 "GET / HTTP/1.1\r\n\r\n", FIN 1, SYN_STREAM 5 error/9090,
 * PING, SETTINGS, WINDOW_UPDATE, HEADERS 3 (x-multi: a, b), RST_STREAM 5 CANCEL, data 3 "bye" FIN, GOAWAY.
 */
const goPortForward =
  '800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c60616061c0c0c0c0590489c64c50f2663400000000ffff800300010000001800000003000000000000c2aa19540e2512d60b000000ffff0000000300000012474554202f20485454502f312e310d0a0d0a0000000101000000800300010000001d0000000500000000000082ea85abb234b0c4546588c36900000000ffff80030006000000040000000180030004000000140000000200000004000000640100000700010000800300090000000800000003000003e8800300080000001a0000000302c9817251856e6e694e4926b82c674802000000ffff80030003000000080000000500000005000000030100000362796580030007000000080000000400000000';
/** exec, client to server: SYN_STREAM 1..9 error/stdin/stdout/stderr/resize, resize JSON on 9, "ls\n" on 3, FIN on 3. */
const goExecClient =
  '80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a6800000000ffff800300010000001700000003000000000000c22e555c92929907000000ffff800300010000001900000005000000000000c22ac5565c92925f5a02000000ffff800300010000001500000007000000000000c229975a5404000000ffff800300010000001800000009000000000000c22e57945a9c59950a000000ffff00000009000000187b225769647468223a38302c22486569676874223a32347d00000003000000036c730a0000000301000000';
/** exec, server to client: SYN_REPLY 1..9, "file\n" on 5, "warn\n" on 7, a Success Status with FIN on 1, FIN on 5. */
const goExecServer =
  '80030002000000140000000178f9e3c6a7c26260606000000000ffff800300020000000c00000003026100000000ffff800300020000000c00000005026100000000ffff800300020000000c00000007026100000000ffff800300020000000c00000009026100000000ffff000000050000000566696c650a00000007000000057761726e0a00000001010000227b226d65746164617461223a7b7d2c22737461747573223a2253756363657373227d0000000501000000';

const limits = { maxFrameBytes: 1 << 20, maxHeaderBlockBytes: 64 * 1024 };

function headers(entries: Record<string, string | string[]>): SpdyHeaders {
  return new Map(Object.entries(entries).map(([name, value]) => [name, ([] as string[]).concat(value)]));
}

function syn(streamId: number, entries: Record<string, string>, fin = false): SpdyFrame {
  return { type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin, unidirectional: false, headers: headers(entries) };
}

function data(streamId: number, text: string, fin = false): SpdyFrame {
  return { type: 'data', streamId, fin, data: Buffer.from(text) };
}

/** What a recorder would keep: everything but the time. */
function summary(frames: StreamFrame[]): string[] {
  return frames.map((f) => `${f.direction} ${f.channel} ${f.stream ?? '-'} ${f.port ?? '-'} ${JSON.stringify(f.data.toString())}`);
}

/** The frames from feeding `bytes` cut at `at`, to prove a frame split anywhere decodes the same. */
function pushSplit(decoder: StreamDecoder, direction: Direction, bytes: Buffer, at: number): StreamFrame[] {
  return [...decoder.read(direction, bytes.subarray(0, at), 1).frames, ...decoder.read(direction, bytes.subarray(at), 1).frames];
}

function assertProtocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof ProtocolError && pattern.test(error.message));
}

test('the SPDY/3 dictionary is the 1423 bytes of the spec, and zlib names it by the id kubegate writes', () => {
  assert.equal(spdyDictionary.length, 1423);
  assert.equal(createHash('sha256').update(spdyDictionary).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  const zlibHeader = deflateSync(Buffer.from('x'), { dictionary: spdyDictionary }).subarray(0, 6);
  assert.deepEqual(new HeaderDeflater().deflate(Buffer.from('x')).subarray(0, 6), zlibHeader);
});

test('header blocks compressed by one shared zlib context inflate in order, past the 32 KiB window', async () => {
  const deflate = createDeflate({ dictionary: spdyDictionary, level: 9 });
  const blocks = Array.from({ length: 60 }, (_, i) => Buffer.from(`streamtype: stdin; port: ${8000 + (i % 7)}; requestid: ${i}; ${'x'.repeat(i * 17)}; ${'abcdefghij'.repeat(60 + (i % 5))}`));
  const compressed: Buffer[] = [];
  for (const block of blocks) {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    deflate.on('data', onData);
    deflate.write(block);
    await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => setImmediate(resolve)));
    deflate.off('data', onData);
    compressed.push(Buffer.concat(chunks));
  }
  deflate.close();
  assert.ok(blocks.reduce((n, b) => n + b.length, 0) > 64 * 1024);
  assert.ok(compressed[59]!.length < blocks[59]!.length / 4, 'later blocks refer back to earlier ones');
  const inflater = new HeaderInflater(64 * 1024);
  compressed.forEach((block, i) => assert.deepEqual(inflater.inflate(block), blocks[i]));
});

test('the inflater agrees with zlib for every deflate strategy, and kubegate’s deflater with a continuous zlib stream', () => {
  const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => String.fromCharCode(97 + ((i * i) % 23))).join('') + 'z'.repeat(500));
  for (const strategy of [constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED]) {
    for (const level of [0, 1, 6, 9]) {
      const block = deflateSync(text, { dictionary: spdyDictionary, strategy, level, finishFlush: constants.Z_SYNC_FLUSH });
      assert.deepEqual(new HeaderInflater(1 << 16).inflate(block), text, `strategy ${strategy} level ${level}`);
    }
  }
  const deflater = new HeaderDeflater();
  const inflater = new HeaderInflater(1 << 16);
  for (let i = 0; i < 20; i++) {
    const block = Buffer.from(`streamtype=stdout port=${i} ` + 'Content-Type: application/json '.repeat(i));
    assert.deepEqual(inflater.inflate(deflater.deflate(block)), block);
  }
});

test('the inflater refuses blocks that do not end at a sync flush, end the stream, or inflate past the limit', () => {
  const block = deflateSync(Buffer.from('streamtype'), { dictionary: spdyDictionary, finishFlush: constants.Z_SYNC_FLUSH });
  assertProtocolError(() => new HeaderInflater(1024).inflate(block.subarray(0, -1)), /sync flush/);
  assertProtocolError(() => new HeaderInflater(1024).inflate(deflateSync(Buffer.from('streamtype'), { dictionary: spdyDictionary })), /final deflate block/);
  const otherDictionary = deflateSync(Buffer.from('x'), { dictionary: Buffer.from('other'), finishFlush: constants.Z_SYNC_FLUSH });
  assertProtocolError(() => new HeaderInflater(1024).inflate(otherDictionary), /dictionary other than SPDY/);
  const bomb = deflateSync(Buffer.alloc(1 << 20), { dictionary: spdyDictionary, finishFlush: constants.Z_SYNC_FLUSH });
  assert.ok(bomb.length < 2048);
  assertProtocolError(() => new HeaderInflater(64 * 1024).inflate(bomb), /beyond the header block limit/);
  // a Huffman block ending mid-byte (partial flush) leaves bits a continuous decoder would read next
  const second = deflateRawSync(Buffer.from('stdin'), { dictionary: Buffer.concat([spdyDictionary, Buffer.from('streamtype')]), finishFlush: constants.Z_PARTIAL_FLUSH });
  const inflater = new HeaderInflater(1024);
  inflater.inflate(block);
  assertProtocolError(() => inflater.inflate(second), /sync flush/);
});

test('a hand-written SYN_STREAM, its header block compressed by node:zlib with the dictionary, parses', () => {
  // count 2; "streamtype" = "stdin"; "requestid" = "7"
  const block = Buffer.from('00000002' + '0000000a' + '73747265616d74797065' + '00000005' + '737464696e' + '00000009' + '726571756573746964' + '00000001' + '37', 'hex');
  const compressed = deflateSync(block, { dictionary: spdyDictionary, finishFlush: constants.Z_SYNC_FLUSH });
  const length = 10 + compressed.length;
  const frame = Buffer.concat([
    Buffer.from([0x80, 0x03, 0x00, 0x01, 0x01, length >> 16, (length >> 8) & 0xff, length & 0xff]),
    Buffer.from([0, 0, 0, 3, 0, 0, 0, 0, 0x60, 0]),
    compressed,
  ]);
  const [parsed] = new SpdyParser(limits).push(frame);
  assert.deepEqual(parsed, { type: 'syn_stream', streamId: 3, associatedStreamId: 0, priority: 3, slot: 0, fin: true, unidirectional: false, headers: headers({ streamtype: 'stdin', requestid: '7' }) });
});

test('every frame type survives encode → parse, and split at every byte boundary', () => {
  const frames: SpdyFrame[] = [
    syn(1, { streamtype: 'error' }),
    { type: 'syn_reply', streamId: 1, fin: false, headers: headers({}) },
    { type: 'headers', streamId: 1, fin: true, headers: headers({ 'x-multi': ['a', 'b'] }) },
    data(1, 'payload', true),
    { type: 'rst_stream', streamId: 1, status: 5 },
    { type: 'settings', clearSettings: true, entries: [{ id: 7, flags: 1, value: 65536 }] },
    { type: 'ping', id: 9 },
    { type: 'goaway', lastGoodStreamId: 1, status: 0 },
    { type: 'window_update', streamId: 1, deltaWindowSize: 1000 },
  ];
  const encoder = new SpdyFrameEncoder();
  const bytes = Buffer.concat(frames.map((frame) => encoder.encode(frame)));
  assert.deepEqual(new SpdyParser(limits).push(bytes), frames);
  for (let at = 0; at <= bytes.length; at++) {
    const parser = new SpdyParser(limits);
    assert.deepEqual([...parser.push(bytes.subarray(0, at)), ...parser.push(bytes.subarray(at))], frames, `split at ${at}`);
  }
});

test('header blocks: NUL-separated values, and nothing lower-case-less, repeated or left over', () => {
  assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock(headers({ a: ['1', '2'], b: '' }))), headers({ a: ['1', '2'], b: '' }));
  assertProtocolError(() => decodeHeaderBlock(encodeHeaderBlock(headers({ StreamType: 'stdin' }))), /lower-case/);
  const one = encodeHeaderBlock(headers({ a: '1' }));
  const repeated = Buffer.concat([Buffer.from([0, 0, 0, 2]), one.subarray(4), one.subarray(4)]);
  assertProtocolError(() => decodeHeaderBlock(repeated), /repeated/);
  assertProtocolError(() => decodeHeaderBlock(Buffer.concat([one, Buffer.from([0])])), /after its last header/);
  assertProtocolError(() => decodeHeaderBlock(Buffer.from([0xff, 0xff, 0xff, 0xff])), /count larger/);
});

test('frames Go would read differently, or refuses, are protocol errors', () => {
  const encoder = new SpdyFrameEncoder();
  const rst = encoder.encode({ type: 'rst_stream', streamId: 1, status: 5 });
  const padded = Buffer.concat([rst, Buffer.alloc(4)]);
  padded.writeUIntBE(12, 5, 3);
  assertProtocolError(() => new SpdyParser(limits).push(padded), /payload of 12 bytes/);
  const unknown = Buffer.from('8003000a00000000', 'hex');
  assertProtocolError(() => new SpdyParser(limits).push(unknown), /unknown SPDY control frame type 10/);
  assertProtocolError(() => new SpdyParser(limits).push(Buffer.from('8002000300000008', 'hex')), /version 2/);
  assertProtocolError(() => new SpdyParser(limits).push(Buffer.from('0000000000000000', 'hex')), /stream 0/);
  assertProtocolError(() => new SpdyParser(limits).push(Buffer.from('80030003000000080000000100000000', 'hex')), /status 0/);
  // too large: refused from the 8-byte header, before any payload is buffered
  assertProtocolError(() => new SpdyParser({ ...limits, maxFrameBytes: 1024 }).push(Buffer.from('0000000100000401', 'hex')), /1025 bytes exceeds the limit of 1024/);
});

test('exec over SPDY (Go frames, both directions, split at every byte): channels, stdin FIN → close', () => {
  const client = Buffer.from(goExecClient, 'hex');
  const server = Buffer.from(goExecServer, 'hex');
  const expected = [
    'client-to-server resize 9 - "{\\"Width\\":80,\\"Height\\":24}"',
    'client-to-server stdin 3 - "ls\\n"',
    'client-to-server close 3 - "stdin"',
    'server-to-client stdout 5 - "file\\n"',
    'server-to-client stderr 7 - "warn\\n"',
    'server-to-client error 1 - "{\\"metadata\\":{},\\"status\\":\\"Success\\"}"',
    'server-to-client close 1 - "error"',
    'server-to-client close 5 - "stdout"',
  ];
  for (let at = 0; at <= Math.max(client.length, server.length); at++) {
    const decoder = decoderFor({ transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' });
    const frames = [...pushSplit(decoder, 'client-to-server', client, Math.min(at, client.length)), ...pushSplit(decoder, 'server-to-client', server, Math.min(at, server.length))];
    assert.deepEqual(summary(frames), expected, `split at ${at}`);
  }
  const byteByByte = decoderFor({ transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' });
  const frames: StreamFrame[] = [];
  for (const byte of client) frames.push(...byteByByte.read('client-to-server', Buffer.from([byte]), 1).frames);
  assert.deepEqual(summary(frames), expected.slice(0, 3));
});

/** The HEADERS frame of `goPortForward`: spdystream stalls the stream on one, so the gateway refuses it. */
const goHeadersFrame = '800300080000001a0000000302c9817251856e6e694e4926b82c674802000000ffff';

test('port-forward over SPDY (Go frames): data and errors carry their port; RST and GOAWAY are recorded', () => {
  assertProtocolError(() => decoderFor({ transport: 'spdy', streamProtocol: 'portforward.k8s.io' }).read('client-to-server', Buffer.from(goPortForward, 'hex'), 1), /HEADERS frame on stream 3/);
  // no header block follows it, so the rest decodes the same without it
  const bytes = Buffer.from(goPortForward.replace(goHeadersFrame, ''), 'hex');
  const expected = [
    'client-to-server port-data 3 8080 "GET / HTTP/1.1\\r\\n\\r\\n"',
    'client-to-server control 5 9090 "{\\"type\\":\\"rst_stream\\",\\"streamId\\":5,\\"status\\":5}"',
    'client-to-server port-data 3 8080 "bye"',
    'client-to-server close 3 8080 "port-data"',
    'client-to-server control - - "{\\"type\\":\\"goaway\\",\\"lastGoodStreamId\\":4,\\"status\\":0}"',
  ];
  for (let at = 0; at <= bytes.length; at++) {
    const decoder = decoderFor({ transport: 'spdy', streamProtocol: 'portforward.k8s.io' });
    assert.deepEqual(summary(pushSplit(decoder, 'client-to-server', bytes, at)), expected, `split at ${at}`);
  }
  const encoder = new SpdyFrameEncoder();
  const decoder = decoderFor({ transport: 'spdy', streamProtocol: 'portforward.k8s.io' });
  decoder.read('client-to-server', encoder.encode(syn(1, { streamtype: 'error', port: '5432', requestid: '0' })), 1).frames;
  const server = new SpdyFrameEncoder();
  const frames = decoder.read('server-to-client', Buffer.concat([server.encode({ type: 'syn_reply', streamId: 1, fin: false, headers: headers({}) }), server.encode(data(1, 'connection refused', true))]), 2).frames;
  assert.deepEqual(summary(frames), ['server-to-client port-error 1 5432 "connection refused"', 'server-to-client close 1 5432 "port-error"']);
});

test('stream bookkeeping: unknown types and ports, order, data after FIN, never-opened and forgotten streams', () => {
  const open = (streamProtocol: string, ...frames: SpdyFrame[]) => {
    const decoder = decoderFor({ transport: 'spdy', streamProtocol });
    const encoder = new SpdyFrameEncoder();
    return () => decoder.read('client-to-server', Buffer.concat(frames.map((f) => encoder.encode(f))), 1).frames;
  };
  assertProtocolError(open('v4.channel.k8s.io', syn(1, { streamtype: 'shell' })), /unknown type "shell"/);
  assertProtocolError(open('v4.channel.k8s.io', syn(1, {})), /exactly one "streamtype"/);
  assertProtocolError(open('portforward.k8s.io', syn(1, { streamtype: 'data', port: '70000' })), /port "70000"/);
  assertProtocolError(open('v4.channel.k8s.io', syn(3, { streamtype: 'stdin' }), syn(1, { streamtype: 'error' })), /out of order/);
  assertProtocolError(open('v4.channel.k8s.io', syn(1, { streamtype: 'stdin' }), data(1, 'a', true), data(1, 'b')), /after its FIN/);
  assertProtocolError(open('v4.channel.k8s.io', data(5, 'x')), /never opened/);
  const reset = open('v4.channel.k8s.io', syn(1, { streamtype: 'stdin' }), { type: 'rst_stream', streamId: 1, status: 5 }, data(1, 'dropped by Go too'));
  assert.deepEqual(summary(reset()).map((line) => line.split(' ')[1]), ['control']);
  const tooMany = decoderFor({ transport: 'spdy', streamProtocol: 'portforward.k8s.io' }, { limits: { ...defaultStreamLimits, maxOpenStreams: 2 } });
  const encoder = new SpdyFrameEncoder();
  tooMany.read('client-to-server', Buffer.concat([1, 3].map((id) => encoder.encode(syn(id, { streamtype: 'data', port: '80' })))), 1).frames;
  assertProtocolError(() => tooMany.read('client-to-server', encoder.encode(syn(5, { streamtype: 'data', port: '80' })), 1).frames, /more than 2 SPDY streams/);
  assertProtocolError(() => decoderFor({ transport: 'spdy', streamProtocol: 'v9.channel.k8s.io' }), /unsupported SPDY stream protocol/);
});

test('invariant 10: streams the kubelet would refuse, forget or leave unread are refused', () => {
  const decode = (streamProtocol: string, frames: [Direction, SpdyFrame][]) => () => {
    const decoder = decoderFor({ transport: 'spdy', streamProtocol });
    const encoders = { 'client-to-server': new SpdyFrameEncoder(), 'server-to-client': new SpdyFrameEncoder() };
    return frames.flatMap(([direction, frame]) => decoder.read(direction, encoders[direction].encode(frame), 1).frames);
  };
  const stdin = syn(1, { streamtype: 'stdin' });
  const up = (frame: SpdyFrame): [Direction, SpdyFrame] => ['client-to-server', frame];
  // Go keeps the last stream of a type: data on the first would be checked but never read
  assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), up(syn(3, { streamtype: 'stdin' })), up(data(3, 'rm -rf /data\n'))]), /a second SPDY stdin stream/);
  assertProtocolError(decode('v4.channel.k8s.io', [['server-to-client', syn(2, { streamtype: 'stdin' })]]), /opened by the server/);
  // Go's check is "at least 2 above the last", of either parity: 1, 4, then 3 would be refused by Go
  assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), up(syn(4, { streamtype: 'stdout' }))]), /stream 4 opened out of order/);
  for (const direction of ['client-to-server', 'server-to-client'] as const) {
    assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), [direction, { type: 'goaway', lastGoodStreamId: 1, status: 0 }], up(syn(3, { streamtype: 'stdout' }))]), /opened after GOAWAY/);
  }
  assertProtocolError(decode('v4.channel.k8s.io', [up({ type: 'syn_stream', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: true, headers: headers({ streamtype: 'stdin' }) })]), /unidirectional/);
  assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), up(data(2, 'x'))]), /stream 2, which was never opened/);
  assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), up({ type: 'syn_reply', streamId: 1, fin: true, headers: headers({}) })]), /SYN_REPLY from the client/);
  for (const direction of ['client-to-server', 'server-to-client'] as const) {
    assertProtocolError(decode('v4.channel.k8s.io', [up(stdin), [direction, { type: 'headers', streamId: 1, fin: false, headers: headers({ a: 'b' }) }]]), /HEADERS frame on stream 1/);
  }
  // port-forward opens a data and an error stream per local connection: many of each are normal
  const pf = (id: number, streamtype: string) => up(syn(id, { streamtype, port: '80', requestid: String(id >> 2) }));
  assert.equal(decode('portforward.k8s.io', [pf(1, 'error'), pf(3, 'data'), pf(5, 'error'), pf(7, 'data'), up(data(7, 'x'))])().length, 1);
});

test('after a protocol error every later push repeats it, naming the direction', () => {
  const decoder = decoderFor({ transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' });
  let first: unknown;
  assert.throws(() => decoder.read('server-to-client', Buffer.from('8002000300000008', 'hex'), 1).frames, (error) => (first = error) instanceof ProtocolError);
  assert.equal((first as ProtocolError).direction, 'server-to-client');
  assert.throws(() => decoder.read('client-to-server', Buffer.alloc(0), 2).frames, (error) => error === first);
});

test('closing notice: the error stream gets a Status (text before v4) and FIN, then GOAWAY', () => {
  for (const [streamProtocol, expected] of [
    ['v4.channel.k8s.io', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'kubegate: blocked', reason: 'Forbidden', code: 403 }],
    ['channel.k8s.io', 'kubegate: blocked'],
  ] as const) {
    const decoder = decoderFor({ transport: 'spdy', streamProtocol });
    decoder.read('client-to-server', Buffer.from(goExecClient, 'hex'), 1).frames;
    const frames = new SpdyParser(limits).push(decoder.closingNotice('kubegate: blocked'));
    assert.equal(frames.length, 2);
    const [error, goaway] = frames;
    assert.ok(error?.type === 'data' && error.streamId === 1 && error.fin);
    assert.deepEqual(typeof expected === 'string' ? error.data.toString() : JSON.parse(error.data.toString()), expected);
    assert.deepEqual(goaway, { type: 'goaway', lastGoodStreamId: 9, status: 0 });
  }
  const portForward = decoderFor({ transport: 'spdy', streamProtocol: 'portforward.k8s.io' });
  portForward.read('client-to-server', new SpdyFrameEncoder().encode(syn(1, { streamtype: 'error', port: '80', requestid: '0' })), 1).frames;
  const [error] = new SpdyParser(limits).push(portForward.closingNotice('grant expired'));
  assert.ok(error?.type === 'data' && error.streamId === 1 && error.data.toString() === 'grant expired');
});
