/**
 * Differential stream test (invariant 10): random WebSocket frame sequences — fragmented messages,
 * pings and pongs between fragments, empty messages, a resize, the resize-then-continuation trick, the
 * v5 stdin close — sent with a raw client through the real gateway to a real exec (kwok runs
 * `cat > FILE` locally), for each channel subprotocol: v5 (read by the API server), v4 and
 * v4.base64 (proxied to the kubelet). What the container wrote to its file must equal the stdin the
 * gateway recorded (and so checked), whether the session ran to its end or was refused.
 *
 * After each step the client sends a checkpoint line on stdin and waits until the container has it
 * (or the gateway ended the session), so every byte before the checkpoint has been delivered: the
 * comparison never races the container's kill at the session's end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closePayload, encodeWebSocketFrame, opcodes } from '../../src/gateway/streams/websocket-frames.js';
import { gatewayFixture, recordedLines, type GatewayFixture, type RecordedLine } from '../harness/gateway-fixture.js';
import { Kubectl } from '../harness/kubectl.js';
import { startStreamTap } from '../harness/stream-tap.js';
import { prng } from '../harness/prng.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();
const seed = 0x10f3a9;
const sequenceCount = 30;
const subprotocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;
type Subprotocol = (typeof subprotocols)[number];

type Random = (n: number) => number;

/** One step of a sequence: the client frames it sends and a name for the printed summary. */
interface Step {
  name: string;
  frames: Buffer[];
  /** Fragmented, or a message after the stdin close: the documented rule refuses it. */
  refused: boolean;
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 .-_/\n';

function text(random: Random, max: number): Buffer {
  return Buffer.from(Array.from({ length: 1 + random(max) }, () => alphabet[random(alphabet.length)]).join(''));
}

function clientFrame(random: Random, opcode: number, payload: Buffer, fin = true): Buffer {
  return encodeWebSocketFrame({ opcode, payload, fin, maskKey: Buffer.from([random(256), random(256), random(256), random(256)]) });
}

/** A channel message's frame payload and opcode as the subprotocol writes it. */
function channelMessage(subprotocol: Subprotocol, channel: number, data: Buffer): { opcode: number; payload: Buffer } {
  if (subprotocol === 'v4.base64.channel.k8s.io') return { opcode: opcodes.text, payload: Buffer.from(`${channel}${data.toString('base64')}`) };
  return { opcode: opcodes.binary, payload: Buffer.concat([Buffer.from([channel]), data]) };
}

/** One message as frames: whole, or cut into 2–4 fragments with pings or pongs between them. */
function messageFrames(random: Random, message: { opcode: number; payload: Buffer }, fragmented: boolean): Buffer[] {
  if (!fragmented) return [clientFrame(random, message.opcode, message.payload)];
  const cuts = Array.from({ length: 1 + random(3) }, () => random(message.payload.length + 1)).sort((a, b) => a - b);
  const parts = [0, ...cuts].map((start, i) => message.payload.subarray(start, [...cuts, message.payload.length][i]));
  return parts.flatMap((part, i) => {
    const frame = clientFrame(random, i === 0 ? message.opcode : opcodes.continuation, part, i === parts.length - 1);
    const control = random(3) === 0 ? [clientFrame(random, random(2) === 0 ? opcodes.ping : opcodes.pong, text(random, 8))] : [];
    return i === 0 ? [frame] : [...control, frame];
  });
}

function resizeJson(random: Random): Buffer {
  return Buffer.from(JSON.stringify({ Width: 20 + random(200), Height: 5 + random(60) }));
}

/**
 * A random step. A resize is sent at most once per sequence: without a TTY nobody reads the server's
 * resize queue, so the API server and kubelet stop reading the connection at the second one.
 */
function randomStep(random: Random, subprotocol: Subprotocol, resized: { done: boolean }): Step {
  const roll = random(20);
  if (roll < 11 || roll === 19) {
    const fragmented = random(6) === 0;
    return { name: fragmented ? 'stdin fragmented' : 'stdin', frames: messageFrames(random, channelMessage(subprotocol, 0, text(random, 40)), fragmented), refused: fragmented };
  }
  if (roll === 11) return { name: 'empty message', frames: [clientFrame(random, subprotocol.includes('base64') ? opcodes.text : opcodes.binary, Buffer.alloc(0))], refused: false };
  if (roll === 12) return { name: 'ping', frames: [clientFrame(random, opcodes.ping, text(random, 20))], refused: false };
  if (roll === 13) return { name: 'pong', frames: [clientFrame(random, opcodes.pong, text(random, 20))], refused: false };
  if (roll === 14) {
    const stdin = channelMessage(subprotocol, 0, text(random, 20));
    return { name: 'orphan continuation', frames: [clientFrame(random, opcodes.continuation, stdin.payload)], refused: true };
  }
  if (resized.done) return { name: 'ping', frames: [clientFrame(random, opcodes.ping, Buffer.alloc(0))], refused: false };
  resized.done = true;
  const resize = channelMessage(subprotocol, 4, resizeJson(random));
  if (roll < 18) {
    const fragmented = random(4) === 0;
    return { name: fragmented ? 'resize fragmented' : 'resize', frames: messageFrames(random, resize, fragmented), refused: fragmented };
  }
  // the trick of issue 10: a resize with FIN=0, then a continuation that x/net reads as a stdin message
  const stdin = channelMessage(subprotocol, 0, Buffer.from(`echo trick ${random(1000)}\n`));
  return { name: 'resize FIN=0 + stdin continuation', frames: [clientFrame(random, resize.opcode, resize.payload, false), clientFrame(random, opcodes.continuation, stdin.payload)], refused: true };
}

function randomSequence(random: Random, subprotocol: Subprotocol): Step[] {
  const resized = { done: false };
  const steps = Array.from({ length: 3 + random(5) }, () => randomStep(random, subprotocol, resized));
  if (subprotocol === 'v5.channel.k8s.io' && random(4) === 0) {
    steps.push({ name: 'stdin close', frames: [clientFrame(random, opcodes.binary, Buffer.from([255, 0]))], refused: false });
  }
  return steps;
}

/** A raw WebSocket exec through the gateway: the upgraded socket, and whether it has closed. */
async function openExec(fixture: GatewayFixture, pod: string, subprotocol: Subprotocol, file: string): Promise<{ socket: Duplex; closed: () => boolean; ended: Promise<void> }> {
  const query = ['sh', '-c', `exec cat > ${file}`].map((part) => `command=${encodeURIComponent(part)}`).join('&');
  const url = new URL(fixture.gateway.url);
  const socket = await new Promise<Duplex>((resolve, reject) => {
    const req = request({
      hostname: url.hostname,
      port: url.port,
      path: `/api/v1/namespaces/${fixture.target}/pods/${pod}/exec?${query}&stdin=true&stdout=true&stderr=true`,
      ca: fixture.ca,
      headers: {
        authorization: `Bearer ${fixture.token}`,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': subprotocol,
      },
    });
    req.on('upgrade', (res, upgraded) => (res.headers['sec-websocket-protocol'] === subprotocol ? resolve(upgraded) : reject(new Error(`negotiated ${res.headers['sec-websocket-protocol']}`))));
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  let closed = false;
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  void ended.then(() => (closed = true));
  socket.on('error', () => undefined); // a refused session's socket may reset under a write
  socket.resume();
  return { socket, closed: () => closed, ended };
}

/** Writes `bytes` cut at random points, as separate writes. */
function writeCut(random: Random, socket: Duplex, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) {
    const end = random(3) === 0 ? bytes.length : Math.min(bytes.length, at + 1 + random(bytes.length));
    if (!socket.destroyed) socket.write(bytes.subarray(at, end));
    at = end;
  }
}

/** The stdin the gateway recorded for the exec that wrote `file`, once its session ended. */
async function recordedStdin(fixture: GatewayFixture, file: string): Promise<{ stdin: Buffer; reason: string }> {
  let result: { stdin: Buffer; reason: string } | undefined;
  await eventually(async () => {
    const events = [...new Set(recordedLines(fixture.gateway))].map((line) => JSON.parse(line) as RecordedLine & { seq: number });
    const requestId = events.find((event) => event.type === 'stream-open' && event.command?.some((part) => part.includes(file)))?.requestId;
    const close = events.find((event) => event.type === 'stream-close' && event.requestId === requestId);
    assert.ok(requestId && close, `the session writing ${file} is recorded and closed`);
    const stdin = events.filter((event) => event.type === 'stream' && event.requestId === requestId && event.channel === 'stdin').sort((a, b) => a.seq - b.seq);
    result = { stdin: Buffer.concat(stdin.map((event) => Buffer.from(event.data!, 'base64'))), reason: close.reason ?? '' };
  }, 20_000, 100);
  return result!;
}

async function runSequence(fixture: GatewayFixture, pod: string, subprotocol: Subprotocol, steps: Step[], random: Random, file: string): Promise<{ refused: boolean; reason: string; bytes: number }> {
  const { socket, closed, ended } = await openExec(fixture, pod, subprotocol, file);
  const contents = () => (existsSync(file) ? readFileSync(file) : Buffer.alloc(0));
  for (const [index, step] of steps.entries()) {
    writeCut(random, socket, Buffer.concat(step.frames));
    if (step.name === 'stdin close') break;
    const checkpoint = Buffer.from(`#checkpoint ${index}\n`);
    const message = channelMessage(subprotocol, 0, checkpoint);
    writeCut(random, socket, clientFrame(random, message.opcode, message.payload));
    await eventually(async () => assert.ok(closed() || contents().subarray(-checkpoint.length).equals(checkpoint), `checkpoint ${index} reached the container`), 10_000, 20);
    if (closed()) break;
  }
  const refused = closed();
  if (!refused) socket.write(clientFrame(random, opcodes.close, closePayload(1000)));
  await ended;
  const recorded = await recordedStdin(fixture, file);
  assert.equal(contents().toString('latin1'), recorded.stdin.toString('latin1'), `what the container got is what was recorded (${recorded.reason})`);
  return { refused, reason: recorded.reason, bytes: recorded.stdin.length };
}

let podReady: Promise<string> | undefined;

/** The pod every exec of this file runs in (kwok runs the command locally). */
function differentialPod(fixture: GatewayFixture): Promise<string> {
  return (podReady ??= (async () => {
    const { bot, target } = fixture;
    await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('differential', 1) });
    await bot.ok(['rollout', 'status', 'deployment/differential', '-n', target, '--timeout=60s']);
    return (await podNames(bot, target, 'app=differential'))[0]!;
  })());
}

/**
 * Where `KUBEGATE_CAPTURE_STREAMS` names a folder, kubectl's traffic of the test below is written there
 * (test/fixtures/streams/ holds one capture: the fuzzer's seeds, bench/fuzz-streams.ts).
 */
const captureDir = process.env.KUBEGATE_CAPTURE_STREAMS;

test('invariant 10: real kubectl exec -i over WebSocket and SPDY is read unrefused, and the container gets the recorded stdin', async () => {
  const fixture = await setup();
  const pod = await differentialPod(fixture);
  const tap = await startStreamTap({ url: fixture.gateway.url, ca: fixture.ca });
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-differential-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'tap', cluster: { server: tap.url, 'certificate-authority-data': Buffer.from(tap.ca).toString('base64') } }], users: [{ name: 'bot', user: { token: fixture.token } }], contexts: [{ name: 'tap', context: { cluster: 'tap', user: 'bot' } }], 'current-context': 'tap' }));
    const kubectl = new Kubectl(fixture.cluster.state.binaries.kubectl, kubeconfig);
    for (const transport of ['websocket', 'spdy'] as const) {
      const file = join(dir, `kubectl-${transport}`);
      const input = `first line over ${transport}\nsecond line\n`;
      const env: Record<string, string> = transport === 'spdy' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {};
      const result = await kubectl.run(['exec', '-i', '-n', fixture.target, pod, '--', 'sh', '-c', `read a; read b; printf '%s\\n%s\\n' "$a" "$b" > ${file}; echo done`], { env, input });
      assert.equal(result.stdout, 'done\n', result.stderr);
      const recorded = await recordedStdin(fixture, file);
      assert.equal(recorded.stdin.toString(), input);
      assert.equal(readFileSync(file, 'utf8'), input);
    }
    const upgrades = tap.upgrades();
    assert.deepEqual(upgrades.map((upgrade) => `${upgrade.transport} ${upgrade.protocol}`), ['websocket v5.channel.k8s.io', 'spdy v4.channel.k8s.io']);
    if (captureDir) {
      mkdirSync(captureDir, { recursive: true });
      for (const upgrade of upgrades) {
        const capture = { captured: 'kubectl v1.35.4 exec -i through the gateway (test/integration/stream-differential.test.ts)', ...upgrade, clientToServer: upgrade.clientToServer.toString('base64'), serverToClient: upgrade.serverToClient.toString('base64') };
        writeFileSync(join(captureDir, `kubectl-exec-${upgrade.transport}.json`), JSON.stringify(capture, null, 2) + '\n');
      }
    }
  } finally {
    await tap.close();
  }
});

test(`invariant 10: ${sequenceCount} random WebSocket exec sequences (seed ${seed}): the container gets exactly the recorded stdin, or the session is refused`, async (t) => {
  const fixture = await setup();
  const pod = await differentialPod(fixture);
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-differential-'));
  const random = prng(seed);
  const outcomes = { complete: 0, refused: 0 };
  for (let n = 0; n < sequenceCount; n++) {
    const subprotocol = subprotocols[n % subprotocols.length]!;
    const steps = randomSequence(random, subprotocol);
    const result = await runSequence(fixture, pod, subprotocol, steps, random, join(dir, `sequence-${n}`));
    outcomes[result.refused ? 'refused' : 'complete']++;
    t.diagnostic(`#${n} ${subprotocol}: ${steps.map((step) => step.name).join(', ')} → ${result.refused ? `refused (${result.reason})` : 'complete'}, ${result.bytes} stdin bytes`);
    // the documented rule (websocket-channel.ts): refused exactly when a step breaks it
    const firstRefused = steps.findIndex((step) => step.refused);
    assert.equal(result.refused, firstRefused !== -1, `sequence ${n}: refused ${result.refused}, rule says ${firstRefused !== -1}`);
  }
  t.diagnostic(`${outcomes.complete} sequences complete, ${outcomes.refused} refused`);
  assert.ok(outcomes.complete > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
});
