/**
 * Differential stream test (invariant 10): random exec frame sequences (test/harness/stream-sequences.ts)
 * sent with a raw client through the real gateway to a real exec (kwok runs `cat > FILE` locally), for
 * WebSocket v5 (read by the API server), v4 and v4.base64 (proxied to the kubelet) — fragmented
 * messages, pings and pongs between fragments, empty messages, a resize, the resize-then-continuation
 * trick, the v5 stdin close — and SPDY (pings, SETTINGS, WINDOW_UPDATE, a second stdin stream, HEADERS,
 * data for a stream never opened, the stdin FIN). What the container wrote to its file must equal the
 * stdin the gateway recorded (and so checked), whether the session ran to its end or was refused.
 *
 * After each step the client sends a checkpoint line on stdin and waits until the container has it
 * (or the gateway ended the session), so every byte before the checkpoint has been delivered: the
 * comparison never races the container's kill at the session's end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayFixture, recordedLines, type GatewayFixture, type RecordedLine } from '../harness/gateway-fixture.js';
import { Kubectl } from '../harness/kubectl.js';
import { startStreamTap } from '../harness/stream-tap.js';
import { prng } from '../harness/prng.js';
import { spdyDialect, tunnelDialect, websocketDialect, websocketSubprotocols, type Dialect, type Random, type Step } from '../harness/stream-sequences.js';
import { deploymentYaml, eventually, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();
const seed = 0x10f3a9;
const sequenceCount = 50;
/** Port-forward sequence n forwards port `firstPort + n`, so its recording is told apart by its path. */
const firstPort = 20_000;

/** The five dialects in turn: WebSocket v5, v4, v4.base64, SPDY, then the port-forward tunnel. */
function dialectFor(n: number, random: Random): Dialect {
  const subprotocol = websocketSubprotocols[n % 5];
  if (subprotocol) return websocketDialect(random, subprotocol);
  return n % 5 === 3 ? spdyDialect(random) : tunnelDialect(random, firstPort + n);
}

/** Where a sequence's input lands, and which recorded session and channel must equal it. */
interface Sink {
  path: string;
  /** What the container (exec) or the forwarded-to server (port-forward) received so far. */
  received(): Buffer;
  /** The requestId of the sequence's session among the recorded events, once recorded. */
  session(events: RecordedLine[]): string | undefined;
  channel: 'stdin' | 'port-data';
}

/** An exec of `cat > file`: the file is what the container received. */
function execSink(fixture: GatewayFixture, pod: string, file: string): Sink {
  const query = ['sh', '-c', `exec cat > ${file}`].map((part) => `command=${encodeURIComponent(part)}`).join('&');
  return {
    path: `/api/v1/namespaces/${fixture.target}/pods/${pod}/exec?${query}&stdin=true&stdout=true&stderr=true`,
    received: () => (existsSync(file) ? readFileSync(file) : Buffer.alloc(0)),
    session: (events) => events.find((event) => event.type === 'stream-open' && event.command?.some((part) => part.includes(file)))?.requestId,
    channel: 'stdin',
  };
}

/** A port-forward to `port`, which kwok forwards to the local server `forwarded`. */
function portForwardSink(fixture: GatewayFixture, pod: string, port: number, forwarded: ForwardTarget): Sink {
  const since = forwarded.connections.length;
  const path = `/api/v1/namespaces/${fixture.target}/pods/${pod}/portforward?ports=${port}`;
  return {
    path,
    received: () => Buffer.concat(forwarded.connections.slice(since).flat()),
    session: (events) => events.find((event) => event.type === 'request' && event.path === path)?.requestId,
    channel: 'port-data',
  };
}

/** A raw upgrade through the gateway to `dialect`: the socket, and whether it has closed. */
async function openUpgrade(fixture: GatewayFixture, dialect: Dialect, path: string): Promise<{ socket: Duplex; closed: () => boolean; ended: Promise<void> }> {
  const url = new URL(fixture.gateway.url);
  const socket = await new Promise<Duplex>((resolve, reject) => {
    const req = request({ hostname: url.hostname, port: url.port, method: dialect.method, path, ca: fixture.ca, headers: { authorization: `Bearer ${fixture.token}`, connection: 'Upgrade', ...dialect.headers } });
    req.on('upgrade', (res, upgraded) => (dialect.accepted(res) ? resolve(upgraded) : reject(new Error(`${dialect.name} not negotiated: ${JSON.stringify(res.headers)}`))));
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

/** What the gateway recorded of the client's input to `sink`'s session, once the session ended. */
async function recordedInput(fixture: GatewayFixture, sink: Sink): Promise<{ input: Buffer; reason: string }> {
  let result: { input: Buffer; reason: string } | undefined;
  await eventually(async () => {
    const events = [...new Set(recordedLines(fixture.gateway))].map((line) => JSON.parse(line) as RecordedLine & { seq: number });
    const requestId = sink.session(events);
    const close = events.find((event) => event.type === 'stream-close' && event.requestId === requestId);
    assert.ok(requestId && close, `the session of ${sink.path} is recorded and closed`);
    const input = events.filter((event) => event.type === 'stream' && event.requestId === requestId && event.channel === sink.channel && event.direction === 'client-to-server').sort((a, b) => a.seq - b.seq);
    result = { input: Buffer.concat(input.map((event) => Buffer.from(event.data!, 'base64'))), reason: close.reason ?? '' };
  }, 20_000, 100);
  return result!;
}

async function runSequence(fixture: GatewayFixture, dialect: Dialect, sink: Sink, steps: Step[], random: Random): Promise<{ refused: boolean; reason: string; bytes: number }> {
  const { socket, closed, ended } = await openUpgrade(fixture, dialect, sink.path);
  writeCut(random, socket, dialect.opening());
  for (const [index, step] of steps.entries()) {
    writeCut(random, socket, step.bytes);
    if (step.last) break;
    const checkpoint = Buffer.from(`#checkpoint ${index}\n`);
    writeCut(random, socket, dialect.input(checkpoint));
    await eventually(async () => assert.ok(closed() || sink.received().subarray(-checkpoint.length).equals(checkpoint), `checkpoint ${index} went through`), 10_000, 20);
    if (closed()) break;
  }
  const refused = closed();
  if (!refused) socket.end(dialect.closing());
  await ended;
  const recorded = await recordedInput(fixture, sink);
  assert.equal(sink.received().toString('latin1'), recorded.input.toString('latin1'), `what went through is what was recorded (${recorded.reason})`);
  return { refused, reason: recorded.reason, bytes: recorded.input.length };
}

/** The local server kwok forwards the pod's ports to: the bytes of each connection it accepted. */
interface ForwardTarget {
  port: number;
  connections: Buffer[][];
  close(): void;
}

async function forwardTarget(): Promise<ForwardTarget> {
  const connections: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const received: Buffer[] = [];
    connections.push(received);
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
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
      const recorded = await recordedInput(fixture, execSink(fixture, pod, file));
      assert.equal(recorded.input.toString(), input);
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

test(`invariant 10: ${sequenceCount} random sequences over WebSocket v5, v4, v4.base64, SPDY and the port-forward tunnel (seed ${seed}): what goes through is exactly what was recorded, or the session is refused`, async (t) => {
  const fixture = await setup();
  const pod = await differentialPod(fixture);
  const forwarded = await forwardTarget();
  t.after(() => forwarded.close());
  const ports = Array.from({ length: sequenceCount }, (_, n) => firstPort + n);
  await fixture.admin.ok(['apply', '-n', fixture.target, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'PortForward', metadata: { name: pod, namespace: fixture.target }, spec: { forwards: [{ ports, target: { port: forwarded.port, address: '127.0.0.1' } }] } }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-differential-'));
  const random = prng(seed);
  const outcomes = { complete: 0, refused: 0 };
  for (let n = 0; n < sequenceCount; n++) {
    const dialect = dialectFor(n, random);
    const sink = dialect.target === 'exec' ? execSink(fixture, pod, join(dir, `sequence-${n}`)) : portForwardSink(fixture, pod, firstPort + n, forwarded);
    const steps = dialect.steps();
    const result = await runSequence(fixture, dialect, sink, steps, random);
    outcomes[result.refused ? 'refused' : 'complete']++;
    t.diagnostic(`#${n} ${dialect.name}: ${steps.map((step) => step.name).join(', ')} → ${result.refused ? `refused (${result.reason})` : 'complete'}, ${result.bytes} bytes of input`);
    // the documented rule (src/gateway/streams/): refused exactly when a step breaks it
    const breaksRule = steps.some((step) => step.refused);
    assert.equal(result.refused, breaksRule, `sequence ${n}: refused ${result.refused}, the rule says ${breaksRule}`);
  }
  t.diagnostic(`${outcomes.complete} sequences complete, ${outcomes.refused} refused`);
  assert.ok(outcomes.complete > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
});
