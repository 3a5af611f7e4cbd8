import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decoderFor, ProtocolError, type Direction, type NegotiatedProtocol, type StreamDecoder, type StreamFrame } from '../../src/gateway/streams/frame.js';
import { SpdyFrameEncoder, type SpdyFrame } from '../../src/gateway/streams/spdy-frames.js';
import { encodeChannelMessage } from '../../src/gateway/streams/websocket-channel.js';
import { closePayload, encodeWebSocketFrame, opcodes, WebSocketParser, type WebSocketFrame } from '../../src/gateway/streams/websocket-frames.js';

const maskKey = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const limits = { masked: false, maxPayloadBytes: 1 << 20 };

/** A client frame: masked, as RFC 6455 requires. */
function client(opcode: number, payload: Buffer | string, fin = true): Buffer {
  return encodeWebSocketFrame({ opcode, payload: Buffer.from(payload), fin, maskKey });
}

function server(opcode: number, payload: Buffer | string, fin = true): Buffer {
  return encodeWebSocketFrame({ opcode, payload: Buffer.from(payload), fin });
}

function bytes(...values: number[]): Buffer {
  return Buffer.from(values);
}

function summary(frames: StreamFrame[]): string[] {
  return frames.map((f) => `${f.direction} ${f.channel} ${f.stream ?? '-'} ${f.port ?? '-'} ${JSON.stringify(f.data.toString())}`);
}

function assertProtocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof ProtocolError && pattern.test(error.message));
}

/** Feeds a transcript with each direction's bytes cut at `at`, interleaving the directions. */
function decodeSplit(protocol: NegotiatedProtocol, transcript: { client: Buffer; server: Buffer }, at: number): StreamFrame[] {
  const decoder = decoderFor(protocol);
  const half = (direction: Direction, all: Buffer, part: 0 | 1) => decoder.read(direction, part === 0 ? all.subarray(0, Math.min(at, all.length)) : all.subarray(Math.min(at, all.length)), 1).frames;
  return [...half('client-to-server', transcript.client, 0), ...half('server-to-client', transcript.server, 0), ...half('client-to-server', transcript.client, 1), ...half('server-to-client', transcript.server, 1)];
}

/** Every split point decodes to the same frames, per direction in order. */
function assertSplitInvariant(protocol: NegotiatedProtocol, transcript: { client: Buffer; server: Buffer }, expected: string[]): void {
  const byDirection = (lines: string[]) => ['client-to-server', 'server-to-client'].map((d) => lines.filter((l) => l.startsWith(d)));
  for (let at = 0; at <= Math.max(transcript.client.length, transcript.server.length); at++) {
    assert.deepEqual(byDirection(summary(decodeSplit(protocol, transcript, at))), byDirection(expected), `split at ${at}`);
  }
}

test('RFC 6455 §5.7 example frames, written by hand, parse', () => {
  const hello = Buffer.from('Hello');
  const text = (fin: boolean, payload: string, opcode: number = opcodes.text): Partial<WebSocketFrame> => ({ opcode, fin, payload: Buffer.from(payload) });
  const strip = (frames: WebSocketFrame[]) => frames.map(({ opcode, fin, payload }) => ({ opcode, fin, payload }));
  assert.deepEqual(strip(new WebSocketParser(limits).push(bytes(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f))), [text(true, 'Hello')]);
  const masked = bytes(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
  const copy = Buffer.from(masked);
  assert.deepEqual(strip(new WebSocketParser({ ...limits, masked: true }).push(masked)), [text(true, 'Hello')]);
  assert.deepEqual(masked, copy, 'the tapped bytes are forwarded as they are: unmasking must not touch them');
  assert.deepEqual(strip(new WebSocketParser(limits).push(bytes(0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f))), [text(false, 'Hel'), { opcode: 0, fin: true, payload: Buffer.from('lo') }]);
  assert.deepEqual(strip(new WebSocketParser(limits).push(Buffer.concat([bytes(0x89, 0x05), hello]))), [text(true, 'Hello', opcodes.ping)]);
  const p256 = new WebSocketParser(limits).push(Buffer.concat([bytes(0x82, 0x7e, 0x01, 0x00), Buffer.alloc(256, 7)]));
  assert.equal(p256[0]!.payload.length, 256);
  const p64k = new WebSocketParser(limits).push(Buffer.concat([bytes(0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0), Buffer.alloc(65536, 7)]));
  assert.equal(p64k[0]!.payload.length, 65536);
});

test('7-, 16- and 64-bit lengths, fragments around a ping, both maskings, split at every byte', () => {
  for (const masked of [false, true]) {
    const key = masked ? maskKey : undefined;
    const frame = (opcode: number, payload: Buffer, fin = true) => encodeWebSocketFrame({ opcode, payload, fin, ...(key ? { maskKey: key } : {}) });
    const payloads = [0, 1, 125, 126, 65535, 65536].map((n) => Buffer.alloc(n, n % 251));
    const stream = Buffer.concat([
      ...payloads.map((p) => frame(opcodes.binary, p)),
      frame(opcodes.text, Buffer.from('frag'), false),
      frame(opcodes.ping, Buffer.from('are you there')),
      frame(opcodes.continuation, Buffer.from('ment'), true),
      frame(opcodes.close, closePayload(1000, 'bye')),
    ]);
    const expected = [...payloads.map((p) => [2, 2, true, p.length]), [1, 1, false, 4], [9, 9, true, 13], [0, 1, true, 4], [8, 8, true, 5]];
    const shape = (frames: WebSocketFrame[]) => frames.map((f) => [f.opcode, f.messageOpcode, f.fin, f.payload.length]);
    for (const at of [0, 1, 2, 3, 4, 9, 10, 11, 133, 134, 135, 136, 137, 65_000, stream.length - 7, stream.length - 1, stream.length]) {
      const parser = new WebSocketParser({ masked, maxPayloadBytes: 1 << 20 });
      assert.deepEqual(shape([...parser.push(stream.subarray(0, at)), ...parser.push(stream.subarray(at))]), expected, `split at ${at}`);
    }
    const small = Buffer.concat([frame(opcodes.binary, Buffer.from('abc')), frame(opcodes.text, Buffer.from('x'), false), frame(opcodes.continuation, Buffer.from('y'))]);
    for (let at = 0; at <= small.length; at++) {
      const parser = new WebSocketParser({ masked, maxPayloadBytes: 100 });
      const frames = [...parser.push(small.subarray(0, at)), ...parser.push(small.subarray(at))];
      assert.deepEqual(frames.map((f) => f.payload.toString()), ['abc', 'x', 'y']);
    }
  }
});

test('frames the peers reject are protocol errors, and lengths are checked from the header alone', () => {
  const parse = (masked: boolean, ...frames: Buffer[]) => () => new WebSocketParser({ masked, maxPayloadBytes: 1024 }).push(Buffer.concat(frames));
  assertProtocolError(parse(true, server(opcodes.binary, 'x')), /unmasked websocket frame from the client/);
  assertProtocolError(parse(false, client(opcodes.binary, 'x')), /masked websocket frame from the server/);
  assertProtocolError(parse(false, bytes(0xc2, 0x00)), /reserved bits/);
  assertProtocolError(parse(false, bytes(0x83, 0x00)), /unknown websocket opcode 3/);
  assertProtocolError(parse(false, bytes(0x8b, 0x00)), /unknown websocket opcode 11/);
  assertProtocolError(parse(false, server(opcodes.ping, 'x', false)), /fragmented websocket control/);
  assertProtocolError(parse(false, bytes(0x89, 126, 0, 126)), /longer than 125/);
  assertProtocolError(parse(false, server(opcodes.continuation, 'x')), /continuation frame outside/);
  assertProtocolError(parse(false, server(opcodes.text, 'x', false), server(opcodes.binary, 'y')), /before the fragmented one ended/);
  assertProtocolError(parse(false, bytes(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0)), /most significant bit/);
  assertProtocolError(parse(false, bytes(0x82, 127, 0, 0, 0x10, 0, 0, 0, 0, 0)), /of 17592186044416 bytes exceeds the limit of 1024/);
  assertProtocolError(parse(false, bytes(0x82, 126, 0x04, 0x01)), /of 1025 bytes/);
  assertProtocolError(parse(false, bytes(0x88, 0x01, 0x03)), /1-byte payload/);
  assertProtocolError(parse(false, server(opcodes.close, closePayload(1000)), server(opcodes.binary, 'late')), /after the close frame/);
});

/** exec over v5: the client types, resizes and half-closes stdin; the server answers on every channel. */
function v5Transcript(): { client: Buffer; server: Buffer } {
  return {
    client: Buffer.concat([
      client(opcodes.binary, bytes(4, ...Buffer.from('{"Width":80,"Height":24}'))),
      client(opcodes.binary, bytes(0, ...Buffer.from('ls -l\n'))),
      client(opcodes.pong, ''),
      client(opcodes.binary, bytes(0, ...Buffer.from('exit\n'))),
      client(opcodes.binary, bytes(255, 0)),
      client(opcodes.close, closePayload(1000)),
    ]),
    server: Buffer.concat([
      server(opcodes.binary, bytes(1)),
      server(opcodes.ping, ''),
      server(opcodes.binary, bytes(1, ...Buffer.from('total 0\n'))),
      server(opcodes.binary, bytes(2, ...Buffer.from('warning\n'))),
      server(opcodes.binary, bytes(3, ...Buffer.from('{"metadata":{},"status":"Success"}'))),
      server(opcodes.close, closePayload(1000, 'done')),
    ]),
  };
}

test('exec over v5.channel.k8s.io: every channel, the close signal, both directions split everywhere', () => {
  assertSplitInvariant({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' }, v5Transcript(), [
    'client-to-server resize 4 - "{\\"Width\\":80,\\"Height\\":24}"',
    'client-to-server stdin 0 - "ls -l\\n"',
    'client-to-server stdin 0 - "exit\\n"',
    'client-to-server close 0 - "stdin"',
    'client-to-server control - - "{\\"type\\":\\"websocket-close\\",\\"code\\":1000,\\"reason\\":\\"\\"}"',
    'server-to-client stdout 1 - "total 0\\n"',
    'server-to-client stderr 2 - "warning\\n"',
    'server-to-client error 3 - "{\\"metadata\\":{},\\"status\\":\\"Success\\"}"',
    'server-to-client control - - "{\\"type\\":\\"websocket-close\\",\\"code\\":1000,\\"reason\\":\\"done\\"}"',
  ]);
});

test('v4 has no close signal: 255 is an unknown channel there; v5 wants exactly one channel after it', () => {
  const v4 = decoderFor({ transport: 'websocket', subprotocol: 'v4.channel.k8s.io' });
  assert.deepEqual(summary(v4.read('client-to-server', client(opcodes.binary, bytes(0, 0x61)), 1).frames), ['client-to-server stdin 0 - "a"']);
  assertProtocolError(() => v4.read('client-to-server', client(opcodes.binary, bytes(255, 0)), 1).frames, /unknown channel 255/);
  const v5 = decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' });
  assertProtocolError(() => v5.read('client-to-server', client(opcodes.binary, bytes(255, 0, 1)), 1).frames, /exactly one channel/);
  assertProtocolError(() => decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' }).read('client-to-server', client(opcodes.binary, bytes(255, 9)), 1).frames, /unknown channel 9/);
  assertProtocolError(() => decoderFor({ transport: 'websocket', subprotocol: 'v6.channel.k8s.io' }), /unsupported websocket subprotocol/);
});

test('base64 subprotocols: ASCII channel digits, padded base64 payloads, line breaks ignored as Go does', () => {
  for (const subprotocol of ['v4.base64.channel.k8s.io', 'base64.channel.k8s.io']) {
    const transcript = {
      client: Buffer.concat([client(opcodes.text, '0' + Buffer.from('ls\n').toString('base64')), client(opcodes.text, '4eyJXaWR0aCI6ODAs\r\nIkhlaWdodCI6MjR9')]),
      server: Buffer.concat([server(opcodes.text, '1'), server(opcodes.text, '1' + Buffer.from('a\u0000b').toString('base64')), server(opcodes.text, '2' + Buffer.from('oops').toString('base64'))]),
    };
    assertSplitInvariant({ transport: 'websocket', subprotocol }, transcript, [
      'client-to-server stdin 0 - "ls\\n"',
      'client-to-server resize 4 - "{\\"Width\\":80,\\"Height\\":24}"',
      'server-to-client stdout 1 - "a\\u0000b"',
      'server-to-client stderr 2 - "oops"',
    ]);
    const large = Buffer.alloc(6 * 1024 * 1024, 7);
    const [frame] = decoderFor({ transport: 'websocket', subprotocol }).read('server-to-client', server(opcodes.text, '1' + large.toString('base64')), 1).frames;
    assert.ok(frame?.data.equals(large), 'a 6 MiB message decodes (a backtracking check would overflow the stack)');
    for (const bad of ['0bHM', '0bHMK=x', '0b*M=', '0bHMKCg', '0bH=K', '0b===', '0=']) {
      assertProtocolError(() => decoderFor({ transport: 'websocket', subprotocol }).read('client-to-server', client(opcodes.text, bad), 1).frames, /not valid base64/);
    }
  }
});

/** The subprotocols read by x/net/websocket on the server side: exec and the port-forward channel scheme. */
const channelProtocols: Extract<NegotiatedProtocol, { transport: 'websocket' }>[] = [
  ...['', 'channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'].map((subprotocol) => ({ transport: 'websocket' as const, subprotocol })),
  { transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [80] },
];

test('invariant 10: a resize with FIN=0 and a continuation carrying stdin is refused before a byte of it passes', () => {
  // x/net/websocket (API server, kubelet) reads each frame as a message: the continuation is stdin "rm -rf /data\n"
  const resize = client(opcodes.binary, bytes(4, ...Buffer.from('{"Width":80,"Height":24}')), false);
  const trick = client(opcodes.continuation, bytes(0, ...Buffer.from('rm -rf /data\n')));
  const before = client(opcodes.binary, bytes(0, ...Buffer.from('ls\n')));
  for (const protocol of channelProtocols) {
    const decoder = decoderFor(protocol);
    if (protocol.subresource !== 'portforward') assert.deepEqual(summary(decoder.read('client-to-server', before, 1).frames), ['client-to-server stdin 0 - "ls\\n"']);
    // the first two bytes of the fragment are enough: no byte of it is forwarded
    assertProtocolError(() => decoder.read('client-to-server', resize.subarray(0, 2), 1), /fragmented websocket message/);
    assertProtocolError(() => decoder.read('client-to-server', trick, 1), /fragmented websocket message/);
    assertProtocolError(() => decoderFor(protocol).read('client-to-server', Buffer.concat([resize, trick]), 1), /fragmented websocket message/);
    assertProtocolError(() => decoderFor(protocol).read('client-to-server', trick, 1), /fragmented websocket message/);
  }
});

test('channel subprotocols: every data frame with FIN=0 or a continuation opcode is refused, in both directions, split anywhere', () => {
  const fragmentations = (frame: (opcode: number, payload: Buffer | string, fin?: boolean) => Buffer, opcode: number) => [
    [frame(opcode, bytes(0, 0x61), false), frame(opcodes.continuation, 'b')],
    [frame(opcode, bytes(0, 0x61), false), frame(opcodes.ping, ''), frame(opcodes.continuation, 'b')],
    [frame(opcode, bytes(0, 0x61), false), frame(opcodes.continuation, 'b', false), frame(opcodes.continuation, '')],
    [frame(opcode, '', false), frame(opcodes.continuation, bytes(0, 0x61))],
    [frame(opcodes.continuation, bytes(0, 0x61))],
  ];
  const base64 = { transport: 'websocket', subprotocol: 'v4.base64.channel.k8s.io' } as const;
  for (const protocol of [...channelProtocols, base64]) {
    for (const [direction, frame] of [['client-to-server', client], ['server-to-client', server]] as const) {
      for (const frames of fragmentations(frame, protocol === base64 ? opcodes.text : opcodes.binary)) {
        const stream = Buffer.concat(frames);
        for (let at = 0; at <= stream.length; at++) {
          const decoder = decoderFor(protocol);
          assertProtocolError(() => [decoder.read(direction, stream.subarray(0, at), 1), decoder.read(direction, stream.subarray(at), 1)], /fragmented websocket message/);
        }
      }
    }
  }
});

test('channel subprotocols: messages the server would drop are refused, not recorded as input it never got', () => {
  const v5 = () => decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' });
  const closed = v5();
  assert.deepEqual(summary(closed.read('client-to-server', client(opcodes.binary, bytes(255, 0)), 1).frames), ['client-to-server close 0 - "stdin"']);
  assertProtocolError(() => closed.read('client-to-server', client(opcodes.binary, bytes(0, 0x61)), 1), /channel 0 after its close signal/);
  assertProtocolError(() => v5().read('client-to-server', Buffer.concat([client(opcodes.binary, bytes(255, 4)), client(opcodes.binary, bytes(4, 0x7b))]), 1), /channel 4 after its close/);
  for (const channel of [1, 2, 3]) assertProtocolError(() => v5().read('client-to-server', client(opcodes.binary, bytes(channel, 0x61)), 1), /which the server does not read/);
  const pf = decoderFor({ transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [80] });
  assertProtocolError(() => pf.read('client-to-server', client(opcodes.binary, bytes(1, 0x61)), 1), /error channel 1, which the kubelet does not read/);
});

test('closing notice: a Status on the error channel, then a normal close so kubectl reports the Status', () => {
  const read = (notice: Buffer) => new WebSocketParser(limits).push(notice);
  const [status, close] = read(decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' }).closingNotice('kubegate: blocked'));
  assert.equal(status!.opcode, opcodes.binary);
  assert.equal(status!.payload[0], 3);
  assert.deepEqual(JSON.parse(status!.payload.subarray(1).toString()), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'kubegate: blocked', reason: 'Forbidden', code: 403 });
  assert.equal(close!.opcode, opcodes.close);
  assert.equal(close!.payload.readUInt16BE(0), 1000);
  const [text] = read(decoderFor({ transport: 'websocket', subprotocol: 'base64.channel.k8s.io' }).closingNotice('blocked'));
  assert.equal(text!.opcode, opcodes.text);
  assert.equal(text!.payload.toString(), '3' + Buffer.from('blocked').toString('base64'));
  assert.deepEqual(encodeChannelMessage('v4.channel.k8s.io', 1, Buffer.from('hi')), bytes(0x82, 3, 1, 0x68, 0x69));
});

/** Port-forward SPDY frames from kubectl, as written into the tunnel. */
function tunnelledSpdy(): Buffer {
  const encoder = new SpdyFrameEncoder();
  const syn = (streamId: number, streamtype: string): SpdyFrame => ({
    type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false,
    headers: new Map([['streamtype', [streamtype]], ['port', ['5432']], ['requestid', ['0']]]),
  });
  return Buffer.concat([encoder.encode(syn(1, 'error')), encoder.encode(syn(3, 'data')), encoder.encode({ type: 'data', streamId: 3, fin: false, data: Buffer.from('SELECT 1;') })]);
}

test('port-forward over SPDY/3.1+portforward.k8s.io: SPDY bytes cut across messages and fragments decode as one stream', () => {
  const spdy = tunnelledSpdy();
  const expected = ['client-to-server port-data 3 5432 "SELECT 1;"'];
  for (let at = 1; at < spdy.length; at++) {
    const transcript = {
      client: Buffer.concat([client(opcodes.binary, spdy.subarray(0, at)), client(opcodes.binary, spdy.subarray(at, at + 3), false), client(opcodes.ping, ''), client(opcodes.continuation, spdy.subarray(at + 3))]),
      server: Buffer.alloc(0),
    };
    assert.deepEqual(summary(decodeSplit({ transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' }, transcript, at)), expected, `message split at ${at}`);
  }
  const decoder = decoderFor({ transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' });
  decoder.read('client-to-server', client(opcodes.binary, spdy), 1).frames;
  const [notice, close] = new WebSocketParser(limits).push(decoder.closingNotice('grant revoked'));
  assert.equal(notice!.opcode, opcodes.binary);
  assert.ok(notice!.payload.includes('grant revoked'));
  assert.equal(close!.opcode, opcodes.close);
  // what gorilla's NextReader refuses ends the tunnel, so it is refused here too
  const tunnel = () => decoderFor({ transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' });
  assertProtocolError(() => tunnel().read('client-to-server', client(opcodes.text, 'x'), 1).frames, /text message where only binary/);
  assertProtocolError(() => tunnel().read('client-to-server', client(opcodes.text, 'some SPDY bytes').subarray(0, 2), 1).frames, /text message where only binary/);
  assertProtocolError(() => tunnel().read('client-to-server', Buffer.concat([client(opcodes.binary, 'x', false), client(opcodes.binary, 'y')]), 1).frames, /before the fragmented one ended/);
  assertProtocolError(() => tunnel().read('client-to-server', Buffer.concat([client(opcodes.binary, 'x', false), client(opcodes.ping, '', false)]), 1).frames, /fragmented websocket control/);
  assertProtocolError(() => tunnel().read('client-to-server', client(opcodes.continuation, 'x'), 1).frames, /continuation frame outside/);
  assertProtocolError(() => tunnel().read('client-to-server', bytes(0xc2, 0x80, 0, 0, 0, 0), 1).frames, /reserved bits/);
  assertProtocolError(() => tunnel().read('client-to-server', server(opcodes.binary, 'x'), 1).frames, /unmasked/);
});

test('port-forward over the channel scheme: the kubelet announces each port, channel 2n+1 carries errors', () => {
  const le = (port: number) => [port & 0xff, port >> 8];
  const transcript = {
    client: Buffer.concat([client(opcodes.binary, bytes(0, ...Buffer.from('GET /'))), client(opcodes.binary, bytes(2, ...Buffer.from('PING')))]),
    server: Buffer.concat([0, 1, 2, 3].map((channel) => server(opcodes.binary, bytes(channel, ...le(channel < 2 ? 8080 : 9090)))).concat([
      server(opcodes.binary, bytes(0, ...Buffer.from('HTTP/1.1 200'))),
      server(opcodes.binary, bytes(3, ...Buffer.from('connection refused'))),
    ])),
  };
  const expected = [
    'client-to-server port-data 0 8080 "GET /"',
    'client-to-server port-data 2 9090 "PING"',
    'server-to-client port-data 0 8080 "HTTP/1.1 200"',
    'server-to-client port-error 3 9090 "connection refused"',
  ];
  assertSplitInvariant({ transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [8080, 9090] }, transcript, expected);
  // without the query the ports are learnt from the announcements (client data after them)
  const learnt = decoderFor({ transport: 'websocket', subprotocol: '', subresource: 'portforward' });
  learnt.read('server-to-client', transcript.server, 1).frames;
  assert.deepEqual(summary(learnt.read('client-to-server', transcript.client, 2).frames), expected.slice(0, 2));
  const onePort = () => decoderFor({ transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [8080] });
  assertProtocolError(() => onePort().read('server-to-client', server(opcodes.binary, bytes(0, ...le(22))), 1).frames, /announced port 22, not 8080/);
  assertProtocolError(() => onePort().read('server-to-client', server(opcodes.binary, bytes(2, ...le(8080))), 1).frames, /channel 2 for 1 ports/);
  assertProtocolError(() => onePort().read('server-to-client', server(opcodes.binary, bytes(1, 0x90)), 1).frames, /opened without its port/);
  const base64 = decoderFor({ transport: 'websocket', subprotocol: 'v4.base64.channel.k8s.io', subresource: 'portforward', ports: [8080] });
  const frames = base64.read('server-to-client', server(opcodes.text, '0' + Buffer.from([...le(8080), ...Buffer.from('hi')]).toString('base64')), 1).frames;
  assert.deepEqual(summary(frames), ['server-to-client port-data 0 8080 "hi"']);
  const notice = new WebSocketParser(limits).push(base64.closingNotice('expired'));
  assert.deepEqual(Buffer.from(notice[0]!.payload.subarray(1).toString(), 'base64'), Buffer.from([...le(8080), ...Buffer.from('expired')]));
  assertProtocolError(() => decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io', subresource: 'portforward' }), /unsupported port-forward/);
});

test('no closing notice while the client is inside a server frame or a fragmented tunnel message', () => {
  const partial = server(opcodes.binary, bytes(1, ...Buffer.from('half a frame')));
  for (const protocol of [
    { transport: 'websocket', subprotocol: 'v5.channel.k8s.io' },
    { transport: 'websocket', subprotocol: 'v4.channel.k8s.io', subresource: 'portforward', ports: [80] },
    { transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' },
  ] as const) {
    const decoder = decoderFor(protocol);
    decoder.read('server-to-client', partial.subarray(0, 5), 1).frames;
    assert.equal(decoder.closingNotice('x').length, 0, protocol.subprotocol);
  }
  const fragmented = decoderFor({ transport: 'websocket', subprotocol: 'SPDY/3.1+portforward.k8s.io' });
  fragmented.read('server-to-client', server(opcodes.binary, bytes(), false), 1).frames;
  assert.equal(fragmented.closingNotice('x').length, 0);
  const spdy = decoderFor({ transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' });
  spdy.read('server-to-client', Buffer.from('0000000100', 'hex'), 1).frames;
  assert.equal(spdy.closingNotice('x').length, 0);
  const failed = decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' });
  assert.throws(() => failed.read('server-to-client', bytes(0xf2, 0), 1).frames, ProtocolError);
  assert.equal(failed.closingNotice('x').length, 0);
});

test('decoders with no frames to report return none: pings, pongs and the empty ready message', () => {
  const decoder: StreamDecoder = decoderFor({ transport: 'websocket', subprotocol: 'v5.channel.k8s.io' });
  assert.deepEqual(decoder.read('server-to-client', Buffer.concat([server(opcodes.ping, 'x'), server(opcodes.binary, bytes(1)), server(opcodes.binary, '')]), 1).frames, []);
  assert.deepEqual(decoder.read('client-to-server', client(opcodes.pong, 'x'), 1).frames, []);
});
