/**
 * The gateway's CPU per request, quickly (for profiling, not the full comparison of
 * bench/gateway-overhead): a sandbox, the gateway process with recording on as in that bench, then wrk
 * GETs of one ConfigMap (and LISTs of 500) direct and through the gateway; CPU read from /proc for the
 * gateway (primary and workers) and the API server, divided by the requests wrk saw answered.
 * KUBEGATE_BENCH_CPU_PROFILE=DIR profiles the gateway and prints the summary of its profiles.
 * KUBEGATE_BENCH_BASELINE=ROOT also runs the gateway of another build (a copy of an older checkout's bin/,
 * dist/, schemas/, package.json and node_modules) on the same sandbox, measured in turn with this one
 * round after round: a before/after comparison that shares the machine's noise.
 * Run: npm run build && node_modules/.bin/node dist/bench/gateway-cpu.js [wrk-seconds=10] [connections=8]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { startOperator } from '../test/harness/operator.js';
import { summarizeProfiles } from './cpu-profile.js';
import { cpuDuring } from './gateway/cpu.js';
import { setUpWorld, type AccessPath } from './gateway/fixtures.js';
import { jitKubeconfig, type startGateway } from '../test/harness/gateway.js';
import { runWrk } from './gateway/wrk.js';

const wrkSeconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 8);
const rounds = Number(process.argv[4] ?? 1);

/** The gateway of the build at `root`, as the bench's own is started (same policy, same grant). */
async function baselinePath(root: string, cluster: TestCluster, like: AccessPath): Promise<AccessPath> {
  const harness = (await import(join(root, 'dist', 'test', 'harness', 'gateway.js'))) as { startGateway: typeof startGateway };
  const gateway = await harness.startGateway(cluster, { namespace: 'bench-gw', name: 'prod' });
  const kubeconfig = await jitKubeconfig(cluster, { namespace: 'bench-gw', name: 'bench-bot' }, gateway);
  const token = /token: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))![1]!;
  return { ...like, name: 'baseline' as AccessPath['name'], url: gateway.url, token, proxyPid: gateway.process.pid! };
}

async function main(): Promise<void> {
  const profileDir = process.env.KUBEGATE_BENCH_CPU_PROFILE;
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const operator = await startOperator(cluster);
    const world = await setUpWorld(cluster, { smallConfigMaps: 500, bulkConfigMaps: 1, bulkConfigMapBytes: 10 }, 1, profileDir ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined);
    const apiserver = cluster.state.components.find((c) => c.name === 'kube-apiserver')!.pid;
    const paths = world.paths.filter((p) => p.name !== 'go peer');
    const baseline = process.env.KUBEGATE_BENCH_BASELINE;
    if (baseline) paths.push(await baselinePath(baseline, cluster, paths[1]!));
    for (let round = 0; round < rounds; round++)
    for (const [kind, apiPath] of [['GET', `/api/v1/namespaces/${world.namespace}/configmaps/cm-1`], ['LIST', `/api/v1/namespaces/${world.namespace}/configmaps?limit=50`]] as const) {
      for (const path of paths) {
        const url = path.url + apiPath;
        await runWrk(url, path.token, 4, 2);
        const { result, cpu, kernel } = await cpuDuring({ proxy: path.proxyPid ?? process.pid, apiserver }, () => runWrk(url, path.token, connections, wrkSeconds));
        const perRequest = (seconds: number) => ((seconds * 1000) / result.requests).toFixed(3);
        console.log(`${kind.padEnd(5)} ${path.name.padEnd(9)} ${result.requests} requests, ${result.requestsPerSecond.toFixed(0)} req/s; CPU ms/request: proxy ${path.proxyPid ? `${perRequest(cpu.proxy)} (kernel ${perRequest(kernel.proxy)})` : '-'}, API server ${perRequest(cpu.apiserver)}`);
      }
    }
    await world.peer.stop();
    await world.gateway.stop();
    await operator.stop();
    if (profileDir) console.log(`\n${summarizeProfiles(profileDir)}`);
  } finally {
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
