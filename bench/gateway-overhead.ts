/**
 * The gateway against going direct to the same API server and against a Go peer proxy, in one run, on
 * a sandbox of its own, with the gateway in its normal mode (its policy's ServiceAccount, the
 * operator-given RBAC, every request recorded to the store the test harness gives it):
 * 1. a ~50 MB LIST, a 100 MiB `kubectl exec` stdout and a 100 MiB `kubectl port-forward` stream:
 *    MB/s, and the proxies' peak resident memory while each passes;
 * 2. GET (one ConfigMap) and LIST (500 ConfigMaps) through wrk: p50/p99 at one connection, requests
 *    per second saturated at 32 connections, and meanwhile the CPU each proxy and the API server spent per
 *    request (from /proc: robust to other load on the machine, unlike req/s; the API server's less what it
 *    spends idle, measured just before).
 * 3. new kubectl sessions through the gateway (each request a session of its own, its CPU counted until
 *    it is sealed and uploaded), and the gateway's memory under 1,000 idle watches.
 * The peers: a Go peer (bench/go-peer), `kubectl proxy` (Kubernetes' own, plain HTTP to its client) and the
 * Node floor (bench/node-peer: a bare Node.js proxy, requests only).
 * Prints a table and a JSON summary. Needs wrk (apt-get install wrk) and Go (to build bench/go-peer).
 * KUBEGATE_BENCH_DEBUG=1 prints wrk's reports; KUBEGATE_BENCH_CPU_PROFILE=DIR profiles the gateway.
 * Run: npm run build && node_modules/.bin/node dist/bench/gateway-overhead.js [wrk-seconds=8]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { packageRoot } from '../src/util/package-root.js';
import { TestCluster } from '../test/harness/cluster.js';
import { startOperator } from '../test/harness/operator.js';
import { setUpWorld, type AccessPath, type BenchWorld } from './gateway/fixtures.js';
import { kubeRbacProxyAvailability } from './gateway/go-peer.js';
import { report, type BenchRun, type PathResults, type RequestKind, type TransferKind } from './gateway/report.js';
import { execTransfer, httpGet, portForwardTransfer, startByteSource, type Transfer } from './gateway/transfers.js';
import { requireWrk, runWrk } from './gateway/wrk.js';
import { ownRssMiB, peakMemoryDuring, rssMiB, type MemoryPeak } from './process-memory.js';
import { cpuDuring, cpuDuringLessIdle, idleCpuRate } from './gateway/cpu.js';
import { processTree } from './process-tree.js';
import { newSessions } from './gateway/new-sessions.js';
import { holdWatches } from './gateway/held-streams.js';

const wrkSeconds = Number(process.argv[2] ?? 8);
const size = { smallConfigMaps: 500, bulkConfigMaps: 500, bulkConfigMapBytes: 100_000 };
const streamBytes = 100 * 2 ** 20;
/** transfers are repeated and the median kept: one slow run on a shared machine is not the proxy's */
const transferRuns = 3;
const saturatingConnections = 32;
const idleWatches = 1000;

function median(transfers: Transfer[]): Transfer {
  return [...transfers].sort((a, b) => b.bytes / b.seconds - a.bytes / a.seconds)[Math.floor(transfers.length / 2)]!;
}

/** KUBEGATE_BENCH_CPU_PROFILE=DIR: the gateway writes a V8 CPU profile there when it stops (for finding where its time goes). */
function gatewayNodeOptions(): string | undefined {
  const dir = process.env.KUBEGATE_BENCH_CPU_PROFILE;
  return dir ? `--cpu-prof --cpu-prof-dir=${dir}` : undefined;
}

function checkoutVersion(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '(not a git checkout)';
  }
}

/** A proxy's resident memory before any measurement: all its processes, and the gateway's workers each. */
function idleMemory(path: AccessPath): Pick<PathResults, 'idleRssMiB' | 'idleWorkersRssMiB'> {
  if (path.proxyPid === undefined) return {};
  return { idleRssMiB: rssMiB(path.proxyPid), ...(path.name === 'kubegate' ? { idleWorkersRssMiB: processTree(path.proxyPid).slice(1).map(ownRssMiB) } : {}) };
}

/** Runs `work`, with the peak resident memory of the path's proxy meanwhile (direct has no proxy). */
async function withProxyMemory<T>(path: AccessPath, work: () => Promise<T>): Promise<{ result: T; memory?: MemoryPeak }> {
  return path.proxyPid === undefined ? { result: await work() } : peakMemoryDuring(path.proxyPid, work);
}

/** Each measurement runs over every path back to back, so a noisy minute hits them all alike. */
async function measureRequests(world: BenchWorld, results: Record<string, PathResults>): Promise<void> {
  const paths: Record<RequestKind, string> = {
    GET: `/api/v1/namespaces/${world.namespace}/configmaps/cm-1`,
    LIST: `/api/v1/namespaces/${world.namespace}/configmaps`,
  };
  for (const [kind, apiPath] of Object.entries(paths) as Array<[RequestKind, string]>) {
    for (const path of world.paths) {
      const url = path.url + apiPath;
      await runWrk(url, path.token, 4, 2); // warm-up: connection pools, caches, the JIT compiler
      const { result, memory } = await withProxyMemory(path, async () => {
        const latency = await runWrk(url, path.token, 1, wrkSeconds);
        const idle = { apiserver: await idleCpuRate(world.apiserverPid) };
        const { result: load, cpu } = await cpuDuringLessIdle({ proxy: path.proxyPid ?? process.pid, apiserver: world.apiserverPid }, idle, () => runWrk(url, path.token, saturatingConnections, wrkSeconds));
        return { latency, load, cpu };
      });
      const perRequest = (seconds: number) => (seconds * 1000) / result.load.requests;
      results[path.name]!.requests[kind] = {
        p50Ms: result.latency.p50Ms,
        p99Ms: result.latency.p99Ms,
        requestsPerSecond: result.load.requestsPerSecond,
        ...(path.proxyPid === undefined ? {} : { cpuMsPerRequest: perRequest(result.cpu.proxy) }),
        apiserverCpuMsPerRequest: perRequest(result.cpu.apiserver),
        memory,
      };
    }
  }
}

/**
 * Run before the request load: a proxy's heap grown under load would otherwise have room to buffer a
 * large response without its resident memory growing, and buffering would go unseen. The proxy's CPU per
 * MB is over every run (the median run's MB/s is reported).
 */
async function measureTransfers(world: BenchWorld, results: Record<string, PathResults>): Promise<void> {
  const transfers: Record<TransferKind, (path: AccessPath) => Promise<Transfer>> = {
    list: (path) => httpGet(`${path.url}/api/v1/namespaces/${world.bulkNamespace}/configmaps`, path.token),
    exec: (path) => execTransfer(path.kubectl, world.namespace, world.pod, streamBytes),
    portForward: (path) => portForwardTransfer(path.kubectl, world.namespace, world.pod, world.forwardedPort, streamBytes),
  };
  for (const [kind, once] of Object.entries(transfers) as Array<[TransferKind, (path: AccessPath) => Promise<Transfer>]>) {
    for (const path of world.paths) {
      if (kind !== 'list' && path.upgrades === false) continue;
      const { result, memory } = await withProxyMemory(path, () =>
        cpuDuring({ proxy: path.proxyPid ?? process.pid }, async () => {
          const runs: Transfer[] = [];
          for (let i = 0; i < transferRuns; i++) runs.push(await once(path));
          return runs;
        }),
      );
      const megabytes = result.result.reduce((sum, run) => sum + run.bytes, 0) / 1e6;
      results[path.name]!.transfers[kind] = { transfer: median(result.result), memory, ...(path.proxyPid === undefined ? {} : { cpuMsPerMB: (result.cpu.proxy * 1000) / megabytes }) };
    }
  }
}

/**
 * What only the gateway has: new kubectl sessions (each request a session of its own, counted until sealed
 * and uploaded) and its memory under 1,000 idle watches, each on a connection of its own.
 */
async function measureGatewayAlone(world: BenchWorld, dir: string): Promise<Pick<BenchRun, 'sessions' | 'watches'>> {
  const path = world.paths.find((p) => p.name === 'kubegate')!;
  const sessions = await newSessions(world.gateway, `/api/v1/namespaces/${world.namespace}/configmaps/cm-1`, path.token, wrkSeconds, dir);
  const { result: held, memory } = await peakMemoryDuring(path.proxyPid!, async () => {
    const streams = await holdWatches(path.url, path.token, world.namespace, idleWatches);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    streams.close();
    return streams.count;
  });
  return { sessions, watches: { ...memory, held, asked: idleWatches } };
}

async function main(): Promise<void> {
  requireWrk();
  const kubeRbacProxy = await kubeRbacProxyAvailability();
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  const byteSource = await startByteSource(streamBytes);
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const operator = await startOperator(cluster);
    const world = await setUpWorld(cluster, size, byteSource.port, gatewayNodeOptions());
    const results = Object.fromEntries(
      world.paths.map((path): [string, PathResults] => [path.name, { ...idleMemory(path), requests: {}, transfers: {} }]),
    );
    await measureTransfers(world, results);
    await measureRequests(world, results);
    const gateway = await measureGatewayAlone(world, dir);
    report({ ...gateway, results, gatewayWorkers: processTree(world.gateway.process.pid!).length - 1, kubeRbacProxy, kubegateVersion: checkoutVersion(), wrkSeconds, saturatingConnections, size, streamBytes, transferRuns });
    await world.nodePeer.stop();
    await world.peer.stop();
    await world.kubectlProxy.stop();
    await world.gateway.stop();
    await operator.stop();
  } finally {
    byteSource.close();
    await stopSandbox(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (process.env.KUBEGATE_BENCH_DEBUG ? error.stack : error.message) : error);
    process.exit(1);
  },
);
