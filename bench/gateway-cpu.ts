/**
 * The gateway's CPU per request, quickly (for profiling, not the full comparison of
 * bench/gateway-overhead): a sandbox, the gateway process with recording on as in that bench, then wrk
 * GETs of one ConfigMap (and LISTs of 50, or list-limit) direct and through the gateway; CPU read from /proc for the
 * gateway (primary and workers) and the API server (less its idle background), divided by the requests
 * wrk saw answered. Then what impersonation costs the API server: GETs sent straight to it with the
 * gateway's ServiceAccount token and the gateway's Impersonate-User, -Group and -Extra headers, one more
 * at a time. Beside the gateway, the Node floor (bench/node-peer): a bare Node.js proxy doing only the
 * forwarding, whose CPU per request is what Node's HTTP and TLS cost here, kubegate's own work aside.
 * KUBEGATE_BENCH_CPU_PROFILE=DIR profiles the gateway and prints the summary of its profiles.
 * KUBEGATE_BENCH_GATEWAY_NODE_OPTIONS=OPTIONS starts the gateway with these Node options instead (e.g.
 * `--perf-basic-prof`, for `perf record -g -p PID`: on-CPU samples, which a busy machine does not skew).
 * KUBEGATE_BENCH_STREAM_MIB=N also sends N MiB through `kubectl exec` and `kubectl port-forward` of each
 * gateway, after the requests: the gateway's CPU per MB (recorded) and MB/s, beside direct's MB/s;
 * KUBEGATE_BENCH_STREAM_ROUNDS=N (default 1) repeats that N times, the gateways' order reversed every other round.
 * KUBEGATE_BENCH_BASELINE=ROOT also runs the gateway of another build (a copy of an older checkout's bin/,
 * dist/, schemas/, package.json and node_modules) on the same sandbox, measured in turn with this one
 * round after round: a before/after comparison that shares the machine's noise.
 * Run: npm run build && node_modules/.bin/node dist/bench/gateway-cpu.js [wrk-seconds=10] [connections=8] [rounds=1] [list-limit=50]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { jitKubeconfig, type startGateway } from '../test/harness/gateway.js';
import { Kubectl } from '../test/harness/kubectl.js';
import { startOperator } from '../test/harness/operator.js';
import { summarizeProfiles } from './cpu-profile.js';
import { cpuDuring, cpuDuringLessIdle, idleCpuRate } from './gateway/cpu.js';
import { setUpWorld, type AccessPath, type BenchWorld } from './gateway/fixtures.js';
import { execTransfer, megabytesPerSecond, portForwardTransfer, startByteSource, type Transfer } from './gateway/transfers.js';
import { runWrk } from './gateway/wrk.js';

const wrkSeconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 8);
const rounds = Number(process.argv[4] ?? 1);
const listLimit = Number(process.argv[5] ?? 50);
const streamBytes = Number(process.env.KUBEGATE_BENCH_STREAM_MIB ?? 0) * 1024 * 1024;
const streamRounds = Number(process.env.KUBEGATE_BENCH_STREAM_ROUNDS ?? 1);

/** The gateway of the build at `root`, started as the bench's own is (same policy, same grant). */
async function baselinePath(root: string, cluster: TestCluster, like: AccessPath): Promise<AccessPath> {
  const harness = (await import(join(root, 'dist', 'test', 'harness', 'gateway.js'))) as { startGateway: typeof startGateway };
  const gateway = await harness.startGateway(cluster, { namespace: 'bench-gw', name: 'prod' });
  const kubeconfig = await jitKubeconfig(cluster, { namespace: 'bench-gw', name: 'bench-bot' }, gateway);
  const token = /token: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))![1]!;
  const kubectl = new Kubectl(cluster.state.binaries.kubectl, kubeconfig);
  return { ...like, name: 'baseline' as AccessPath['name'], url: gateway.url, token, kubectl, proxyPid: gateway.process.pid! };
}

/**
 * `kubectl exec` stdout and a `kubectl port-forward` stream of `streamBytes` through each path: MB/s, and
 * its proxy's CPU per MB; `streamRounds` times, every other round with the proxies in reverse order (on a
 * shared machine the load drifts within a run: the same order each round would favour one of them).
 */
async function measureStreams(world: BenchWorld, paths: AccessPath[]): Promise<void> {
  const transfers: Record<string, (path: AccessPath) => Promise<Transfer>> = {
    exec: (path) => execTransfer(path.kubectl, world.namespace, world.pod, streamBytes),
    'port-forward': (path) => portForwardTransfer(path.kubectl, world.namespace, world.pod, world.forwardedPort, streamBytes),
  };
  for (let round = 0; round < streamRounds; round++) {
    const [direct, ...proxies] = paths;
    const order = [direct!, ...(round % 2 === 0 ? proxies : proxies.reverse())];
    for (const [kind, once] of Object.entries(transfers)) await measureStreamRound(kind, once, order);
  }
}

async function measureStreamRound(kind: string, once: (path: AccessPath) => Promise<Transfer>, paths: AccessPath[]): Promise<void> {
  for (const path of paths) {
    const { result, cpu } = await cpuDuring({ proxy: path.proxyPid ?? process.pid }, () => once(path));
    const perMB = path.proxyPid ? `, proxy CPU ms/MB ${((cpu.proxy * 1000) / (result.bytes / 1e6)).toFixed(2)}` : '';
    console.log(`${`${kind} ${path.name}`.padEnd(40)} ${(result.bytes / 1e6).toFixed(0)} MB, ${megabytesPerSecond(result).toFixed(0).padStart(4)} MB/s${perMB}`);
  }
}

/**
 * wrk against `url` (each connection pausing `pauseMs` before each request, if given); CPU per request of
 * the path's proxy (if any) and of the API server. Returns the rate reached.
 */
async function measure(world: BenchWorld, label: string, url: string, token: string, proxyPid?: number, headers: string[] = [], pauseMs?: number): Promise<number> {
  await runWrk(url, token, 4, 2, headers); // warm-up: connection pools, caches, the JIT compiler
  const idle = { apiserver: await idleCpuRate(world.apiserverPid) };
  const { result, cpu, kernel } = await cpuDuringLessIdle({ proxy: proxyPid ?? process.pid, apiserver: world.apiserverPid }, idle, () => runWrk(url, token, connections, wrkSeconds, headers, { pauseMs }));
  const perRequest = (seconds: number) => ((seconds * 1000) / result.requests).toFixed(3);
  const proxy = proxyPid ? `${perRequest(cpu.proxy)} (kernel ${perRequest(kernel.proxy)})` : '-';
  console.log(`${label.padEnd(40)} ${String(result.requests).padStart(6)} requests, ${result.requestsPerSecond.toFixed(0).padStart(5)} req/s; CPU ms/request: proxy ${proxy}, API server ${perRequest(cpu.apiserver)}`);
  return result.requestsPerSecond;
}

/**
 * The API server's CPU per request depends on the rate it is asked at (at a lower rate each request pays
 * more of the wake-ups and background work the idle reading does not subtract), and the gateway reaches a
 * lower rate than going direct: direct again, each connection pausing so as to reach `rate`, is the fair
 * comparison for the API server's cost through the gateway.
 */
function pauseFor(rate: number): number {
  return Math.max(0, (connections * 1000) / rate - 1);
}

/** The API server's CPU per GET as the gateway calls it, one impersonation header more at a time. */
async function impersonationCost(world: BenchWorld, url: string, directToken: string): Promise<void> {
  const { token, user, group } = world.upstream;
  const steps: Array<[string, string, string[]]> = [
    ['API server: direct user (OIDC token)', directToken, []],
    ['API server: SA token, user + group', token, [`Impersonate-User: ${user}`, `Impersonate-Group: ${group}`]],
    ['API server: SA token, user + group + extra', token, [`Impersonate-User: ${user}`, `Impersonate-Group: ${group}`, 'Impersonate-Extra-kubegate.dev%2fsession-id: 0b6f3b8e-bench']],
  ];
  for (const [label, bearer, headers] of steps) await measure(world, label, url, bearer, undefined, headers);
}

function gatewayNodeOptions(profileDir: string | undefined): string | undefined {
  return process.env.KUBEGATE_BENCH_GATEWAY_NODE_OPTIONS ?? (profileDir ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined);
}

async function main(): Promise<void> {
  const profileDir = process.env.KUBEGATE_BENCH_CPU_PROFILE;
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  const byteSource = streamBytes > 0 ? await startByteSource(streamBytes) : undefined;
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const operator = await startOperator(cluster);
    const world = await setUpWorld(cluster, { smallConfigMaps: 500, bulkConfigMaps: 1, bulkConfigMapBytes: 10 }, byteSource?.port ?? 1, gatewayNodeOptions(profileDir));
    const paths = world.paths.filter((path) => path.name === 'direct' || path.name === 'kubegate');
    const nodeFloor = world.paths.find((path) => path.name === 'node floor')!;
    const baseline = process.env.KUBEGATE_BENCH_BASELINE;
    if (baseline) paths.push(await baselinePath(baseline, cluster, paths[1]!));
    const apiPaths = { GET: `/api/v1/namespaces/${world.namespace}/configmaps/cm-1`, LIST: `/api/v1/namespaces/${world.namespace}/configmaps?limit=${listLimit}` };
    for (let round = 0; round < rounds; round++) {
      for (const [kind, apiPath] of Object.entries(apiPaths)) {
        const rates = [];
        for (const path of [...paths, nodeFloor]) rates.push(await measure(world, `${kind} ${path.name}`, path.url + apiPath, path.token, path.proxyPid));
        await measure(world, `${kind} direct at kubegate's rate`, paths[0]!.url + apiPath, paths[0]!.token, undefined, [], pauseFor(rates[1]!));
      }
    }
    await impersonationCost(world, paths[0]!.url + apiPaths.GET, paths[0]!.token);
    if (streamBytes > 0) await measureStreams(world, paths);
    await world.nodePeer.stop();
    await world.peer.stop();
    await world.kubectlProxy.stop();
    await world.gateway.stop();
    await operator.stop();
    if (profileDir) console.log(`\n${summarizeProfiles(profileDir)}`);
  } finally {
    byteSource?.close();
    await stopSandbox(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
