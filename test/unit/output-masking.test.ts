import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Masker } from '../../src/policy/masking/masker.js';
import { decoderFor, type NegotiatedProtocol, type StreamDecoder, type StreamFrame } from '../../src/gateway/streams/frame.js';
import { SpdyFrameEncoder, SpdyParser, type SpdyFrame } from '../../src/gateway/streams/spdy-frames.js';
import { encodeChannelMessage } from '../../src/gateway/streams/websocket-channel.js';
import { encodeWebSocketFrame, opcodes, WebSocketParser } from '../../src/gateway/streams/websocket-frames.js';

const masker = Masker.compile({ secrets: true, fields: [], patterns: ['AKIA[0-9A-Z]{16}'] });
const key = 'AKIAABCDEFGHIJKLMNOP';
const stars = '*'.repeat(20);

/** The one reader of an exec stream, re-framing its output masked. */
function masking(protocol: NegotiatedProtocol): StreamDecoder {
  return decoderFor(protocol, { outputMasker: masker });
}

/** What kubectl would read from the re-framed bytes: each channel's text, in the order frames came. */
function read(protocol: NegotiatedProtocol, bytes: Buffer): StreamFrame[] {
  return decoderFor(protocol).read('server-to-client', bytes, 0).frames;
}

/** The frames the reader gives the recorder are the ones kubectl reads from the bytes it gets. */
function assertRecordedAsSent(protocol: NegotiatedProtocol, recorded: StreamFrame[], forward: Buffer): void {
  const strip = (frames: StreamFrame[]) => frames.map(({ channel, data, stream }) => ({ channel, data: data.toString(), stream }));
  assert.deepEqual(strip(recorded), strip(read(protocol, forward)));
}

function text(frames: StreamFrame[], channel: string): string {
  return frames
    .filter((f) => f.channel === channel)
    .map((f) => f.data.toString())
    .join('');
}

for (const subprotocol of ['v5.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
  test(`exec output over ${subprotocol}: a key split over two messages is masked, pings pass, output is released before the exit status`, () => {
    const protocol: NegotiatedProtocol = { transport: 'websocket', subprotocol };
    const rewriter = masking(protocol);
    const ping = encodeWebSocketFrame({ opcode: opcodes.ping, payload: Buffer.from('hb') });
    const status = Buffer.from('{"metadata":{},"status":"Success"}');
    const server = Buffer.concat([
      encodeChannelMessage(subprotocol, 1, Buffer.from(`key=${key.slice(0, 9)}`)),
      ping,
      encodeChannelMessage(subprotocol, 1, Buffer.from(`${key.slice(9)} done\n`)),
      encodeChannelMessage(subprotocol, 2, Buffer.from(`warn ${key}`)),
      encodeChannelMessage(subprotocol, 3, status),
    ]);
    // split anywhere: the reader parses frames across reads
    const reads = [rewriter.read('server-to-client', server.subarray(0, 7), 0), rewriter.read('server-to-client', server.subarray(7), 0)];
    const out = Buffer.concat(reads.map((r) => r.forward));
    const frames = read(protocol, out);
    assertRecordedAsSent(protocol, reads.flatMap((r) => r.frames), out);
    assert.equal(text(frames, 'stdout'), `key=${stars} done\n`);
    assert.equal(text(frames, 'stderr'), `warn ${stars}`);
    assert.equal(frames.at(-1)!.channel, 'error', 'the exit status comes after all output');
    assert.equal(text(frames, 'error'), status.toString());
    const pings = new WebSocketParser({ masked: false, maxPayloadBytes: 1 << 20 }).push(out).filter((f) => f.opcode === opcodes.ping);
    assert.deepEqual(pings.map((f) => f.payload.toString()), ['hb']);
    assert.ok(!out.toString('latin1').includes(key) && !out.toString('latin1').includes(Buffer.from(key).toString('base64')));
  });
}

test('interactive output held back for a possible key is released when output pauses', () => {
  const protocol: NegotiatedProtocol = { transport: 'websocket', subprotocol: 'v5.channel.k8s.io' };
  const rewriter = masking(protocol);
  const first = read(protocol, rewriter.read('server-to-client', encodeChannelMessage('v5.channel.k8s.io', 1, Buffer.from('bash-5.2$ ')), 0).forward);
  assert.ok(rewriter.holding(), 'a prompt shorter than a key is held back at first');
  const release = rewriter.release(1);
  const released = read(protocol, release.forward);
  assert.equal(text(first, 'stdout') + text(released, 'stdout'), 'bash-5.2$ ');
  assertRecordedAsSent(protocol, release.frames, release.forward);
  assert.equal(release.frames[0]?.timeMs, 1);
  assert.ok(!rewriter.holding());
  assert.deepEqual(read(protocol, rewriter.release(2).forward), []);
});

test('exec output over SPDY: output streams are masked, every other frame keeps its meaning under the gateway compressor', () => {
  const protocol: NegotiatedProtocol = { transport: 'spdy', streamProtocol: 'v4.channel.k8s.io' };
  const rewriter = masking(protocol);
  const client = new SpdyFrameEncoder();
  const streams: [number, string][] = [[1, 'error'], [3, 'stdin'], [5, 'stdout'], [7, 'stderr']];
  const decoder = decoderFor(protocol);
  for (const [streamId, type] of streams) {
    const syn = client.encode({ type: 'syn_stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: new Map([['streamtype', [type]]]) });
    assert.deepEqual(rewriter.read('client-to-server', syn, 0).forward, syn, 'client bytes go upstream as they came');
    decoder.read('client-to-server', syn, 0);
  }
  const server = new SpdyFrameEncoder();
  const serverFrames: SpdyFrame[] = [
    ...streams.map(([streamId]): SpdyFrame => ({ type: 'syn_reply', streamId, fin: false, headers: new Map([['x-reply', [String(streamId)]]]) })),
    { type: 'data', streamId: 5, fin: false, data: Buffer.from(`id ${key.slice(0, 5)}`) },
    { type: 'ping', id: 2 },
    { type: 'data', streamId: 5, fin: false, data: Buffer.from(`${key.slice(5)}\n`) },
    { type: 'data', streamId: 7, fin: true, data: Buffer.from(key) },
    { type: 'data', streamId: 1, fin: true, data: Buffer.from('{"status":"Success"}') },
    { type: 'data', streamId: 5, fin: true, data: Buffer.alloc(0) },
  ];
  const reframed = rewriter.read('server-to-client', Buffer.concat(serverFrames.map((frame) => server.encode(frame))), 0);
  const out = reframed.forward;
  const parsed = new SpdyParser({ maxFrameBytes: 1 << 20, maxHeaderBlockBytes: 1 << 16 }).push(out);
  assert.deepEqual(
    parsed.filter((f) => f.type === 'syn_reply').map((f) => f.type === 'syn_reply' && f.headers.get('x-reply')?.[0]),
    ['1', '3', '5', '7'],
    'header blocks re-compressed by the gateway decompress in order',
  );
  const frames = decoder.read('server-to-client', out, 0).frames;
  assert.deepEqual(reframed.frames.map((f) => [f.channel, f.data.toString()]), frames.map((f) => [f.channel, f.data.toString()]), 'recorded as kubectl reads it');
  assert.equal(text(frames, 'stdout'), `id ${stars}\n`);
  assert.equal(text(frames, 'stderr'), stars);
  const order = frames.filter((f) => f.channel !== 'close').map((f) => f.channel);
  assert.ok(order.indexOf('error') > order.lastIndexOf('stdout'), `exit status after output: ${order.join(',')}`);
  assert.ok(parsed.some((f) => f.type === 'ping'));
});

test('nothing to mask, or port-forward: the relay stays byte for byte', () => {
  const none = Masker.compile({ secrets: true, fields: [], patterns: [] });
  const exec: NegotiatedProtocol = { transport: 'websocket', subprotocol: 'v5.channel.k8s.io' };
  const output = encodeChannelMessage('v5.channel.k8s.io', 1, Buffer.from(`${key}\n`));
  const chunk = output.subarray(0, 5);
  assert.equal(decoderFor(exec, { outputMasker: none }).read('server-to-client', chunk, 0).forward, chunk, 'the chunk itself goes on');
  const portForward: NegotiatedProtocol = { transport: 'spdy', streamProtocol: 'portforward.k8s.io' };
  const syn = new SpdyFrameEncoder().encode({ type: 'syn_stream', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: new Map([['streamtype', ['data']], ['port', ['80']], ['requestid', ['0']]]) });
  const forward = decoderFor(portForward, { outputMasker: masker });
  forward.read('client-to-server', syn, 0);
  const data = new SpdyFrameEncoder().encode({ type: 'data', streamId: 1, fin: false, data: Buffer.from(key) });
  const read = forward.read('server-to-client', data, 0);
  assert.equal(read.forward, data);
  assert.equal(read.frames[0]?.data.toString(), key);
  assert.ok(!forward.holding());
});

test("invariant 9: a Mask rule without patterns masks exec output whole, stdout and stderr, and nothing else", () => {
  const subprotocol = 'v5.channel.k8s.io';
  const protocol: NegotiatedProtocol = { transport: 'websocket', subprotocol };
  const rule = Masker.compileForRule({ secrets: false, fields: [], patterns: [] }, { fields: [], patterns: [] });
  const status = Buffer.from('{"metadata":{},"status":"Success"}');
  const server = Buffer.concat([
    encodeChannelMessage(subprotocol, 1, Buffer.from('db-password: hunter2\n')),
    encodeChannelMessage(subprotocol, 2, Buffer.from('warn\n')),
    encodeChannelMessage(subprotocol, 3, status),
  ]);
  const result = decoderFor(protocol, { outputMasker: rule }).read('server-to-client', server, 0);
  const frames = read(protocol, result.forward);
  assertRecordedAsSent(protocol, result.frames, result.forward);
  assert.equal(text(frames, 'stdout'), '********************\n');
  assert.equal(text(frames, 'stderr'), '****\n');
  assert.equal(text(frames, 'error'), status.toString(), 'the exit status is read by kubectl, not masked');
});
