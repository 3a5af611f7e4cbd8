/**
 * `kubegate gateway --workers N` on a sandbox of its own, recording to the sandbox's MinIO — issue 14's
 * Cores, Memory and New sessions targets:
 * 1. idle resident memory of each process (the primary, each worker), with 1 and with 2 workers;
 * 2. requests the gateway answers alone (a Deny rule: the API server does no work) from wrk at 32
 *    connections, with 1 and with 2 workers: requests per second, the gateway's CPU per request and the
 *    cores it used (CPU from /proc);
 * 3. new kubectl sessions: GETs of one ConfigMap, each with a `Kubectl-Session` of its own (a session and
 *    its recording opened per request), per second and per CPU-second of the gateway (per core), the CPU
 *    counted until every one of them is closed (`--session-idle-ms=1000`), sealed and uploaded;
 * 4. the growth of the gateway's resident memory (every process) under a ~50 MB LIST, 100 concurrent
 *    execs held open and 1,000 idle watches (2 workers).
 * Prints each figure, each target met or missed, and a JSON summary. CPU per request is robust to other
 * load on the machine; requests per second, and so the scaling ratio, are not (wrk, the gateway and the
 * API server share the machine's cores with whatever else runs): the cores the gateway used say whether
 * the second worker had a core to run on.
 * KUBEGATE_BENCH_BASELINE=ROOT also measures the idle memory of the build at ROOT (its harness, 1 worker).
 * Run: npx tsc -p . && node_modules/.bin/node dist/bench/gateway-workers.js [wrk-seconds=6]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { startOperator } from '../test/harness/operator.js';
import { jitKubeconfig, sandboxS3Env, startGateway, type RunningGateway } from '../test/harness/gateway.js';
import { setUpObjects } from './gateway/fixtures.js';
import { gatewayLoad, newSessions, type Throughput } from './gateway/new-sessions.js';
import { holdExecs, holdWatches, type HeldStreams } from './gateway/held-streams.js';
import { httpGet } from './gateway/transfers.js';
import { requireWrk } from './gateway/wrk.js';
import { peakMemoryDuring, rssMiB, type MemoryPeak } from './process-memory.js';
import { processTree } from './process-tree.js';

const wrkSeconds = Number(process.argv[2] ?? 6);
const targets = { idleRssMiBPerWorker: 80, scaling: 1.7, sessionsPerCoreSecond: 100 };
const policyRef = { namespace: 'bench-workers', name: 'prod' };
const grantName = 'bench-bot';
const [namespace, bulkNamespace] = ['bench-small', 'bench-bulk'];
const denyRule = { name: 'no-secret-lists', match: { verbs: ['list'], resources: ['secrets'] }, action: 'Deny' };
const held = { execs: 100, watches: 1000 };
const benchStarted = performance.now();

/** Where the bench is, on stderr (a run on a loaded machine is long). */
function progress(step: string): void {
  process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(0)} s] ${step}\n`);
}

interface IdleMemory {
  primaryMiB: number;
  workersMiB: number[];
}

interface WorkersRun {
  workers: number;
  idle: IdleMemory;
  deny: Throughput;
  newSessions: Throughput & { perCoreSecond: number };
}

/** The world: the policy (a Deny rule, Allow else), an Active grant, a pod to exec into, one small and ~50 MB of ConfigMaps. */
async function setUpWorld(cluster: TestCluster): Promise<{ pod: string }> {
  // ~50 MB in 50 objects of ~1 MB (a ConfigMap's limit is 1 MiB)
  return { pod: await setUpObjects(cluster, { policyRef, grantName, rules: [denyRule], size: { smallConfigMaps: 1, bulkConfigMaps: 50, bulkConfigMapBytes: 1_000_000 } }) };
}

function idleMemory(primary: number): IdleMemory {
  const workers = processTree(primary).slice(1);
  const workersMiB = workers.map(rssMiB);
  return { primaryMiB: rssMiB(primary) - workersMiB.reduce((sum, worker) => sum + worker, 0), workersMiB };
}

/** The status of one GET (to check what a load will be answered before timing it). */
function statusOf(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function measureWorkers(cluster: TestCluster, workers: number, dir: string): Promise<{ run: WorkersRun; gateway: RunningGateway; token: string }> {
  const store = `s3://${cluster.state.s3.bucket}/bench-workers-${workers}`;
  progress(`starting the gateway with ${workers} worker(s)`);
  const gateway = await startGateway(cluster, policyRef, { args: [`--workers=${workers}`, '--segment-max-age-ms=10000', '--session-idle-ms=1000'], store, env: sandboxS3Env(cluster) });
  const jit = /token: (\S+)/.exec(readFileSync(await jitKubeconfig(cluster, { namespace: policyRef.namespace, name: grantName }, gateway), 'utf8'))![1]!;
  const denied = `/api/v1/namespaces/${namespace}/secrets`;
  const configMap = `/api/v1/namespaces/${namespace}/configmaps/cm-0`;
  if ((await statusOf(`${gateway.url}${denied}`, jit)) !== 403) throw new Error('the Deny rule does not answer the secrets LIST');
  await new Promise((resolve) => setTimeout(resolve, 3000)); // idle: past start-up's allocations and timers
  const idle = idleMemory(gateway.process.pid!);
  progress(`${workers} worker(s): Deny-answered requests`);
  const deny = await gatewayLoad(gateway, denied, jit, { connections: 32, seconds: wrkSeconds }, { refusals: true });
  progress(`${workers} worker(s): new sessions`);
  // a session's cost runs to its end: closed 1-2 s after its request, its recording sealed and uploaded
  const sessions = await newSessions(gateway, configMap, jit, wrkSeconds, dir);
  return { run: { workers, idle, deny, newSessions: sessions }, gateway, token: jit };
}

/** The gateway's memory while each of the loads runs (and is held a moment), every process of it. */
async function memoryUnderLoad(gateway: RunningGateway, token: string, pod: string): Promise<Record<string, MemoryPeak & { detail: string }>> {
  const pid = gateway.process.pid!;
  const hold = async (open: () => Promise<HeldStreams>) => {
    const streams = await open();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    streams.close();
    return streams.count;
  };
  progress('memory under a 50 MB LIST, execs, watches');
  const list = await peakMemoryDuring(pid, () => httpGet(`${gateway.url}/api/v1/namespaces/${bulkNamespace}/configmaps`, token));
  const execs = await peakMemoryDuring(pid, () => hold(() => holdExecs(gateway.url, token, namespace, pod, ['sleep', '60'], held.execs)));
  const watches = await peakMemoryDuring(pid, () => hold(() => holdWatches(gateway.url, token, namespace, held.watches)));
  return {
    list: { ...list.memory, detail: `${(list.result.bytes / 1e6).toFixed(1)} MB LIST` },
    execs: { ...execs.memory, detail: `${execs.result} of ${held.execs} concurrent execs answered` },
    watches: { ...watches.memory, detail: `${watches.result} of ${held.watches} idle watches answered` },
  };
}

/** The idle memory of the gateway of the build at `root` (its own harness: 1 worker). */
async function baselineIdle(root: string, cluster: TestCluster): Promise<IdleMemory> {
  const harness = (await import(join(root, 'dist', 'test', 'harness', 'gateway.js'))) as { startGateway: typeof startGateway };
  const gateway = await harness.startGateway(cluster, policyRef, { store: `s3://${cluster.state.s3.bucket}/bench-workers-baseline`, env: sandboxS3Env(cluster) });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const idle = idleMemory(gateway.process.pid!);
  await gateway.stop();
  return idle;
}

const mib = (value: number) => `${value.toFixed(0)} MiB`;

function report(runs: WorkersRun[], memory: Awaited<ReturnType<typeof memoryUnderLoad>>, baseline: IdleMemory | undefined): void {
  const lines = [`# kubegate gateway --workers: ${wrkSeconds} s per wrk run; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (the machine is shared)`];
  for (const { workers, idle, deny, newSessions } of runs) {
    lines.push(`workers ${workers}: idle RSS primary ${mib(idle.primaryMiB)}, workers ${idle.workersMiB.map(mib).join(', ')}`);
    lines.push(`  Deny-answered requests (32 conn): ${deny.requestsPerSecond.toFixed(0)} req/s, ${deny.cpuMsPerRequest.toFixed(3)} ms CPU/request, ${deny.coresUsed.toFixed(2)} cores used`);
    lines.push(`  new kubectl sessions (16 conn): ${newSessions.requestsPerSecond.toFixed(0)}/s, ${newSessions.cpuMsPerRequest.toFixed(2)} ms CPU each, ${newSessions.perCoreSecond.toFixed(0)} per core-second`);
  }
  if (baseline) lines.push(`baseline build, 1 worker: idle RSS primary ${mib(baseline.primaryMiB)}, worker ${baseline.workersMiB.map(mib).join(', ')}`);
  for (const peak of Object.values(memory)) lines.push(`memory under ${peak.detail} (2 workers, every process): ${mib(peak.baselineMiB)} -> peak ${mib(peak.peakMiB)} (+${mib(peak.growthMiB)})`);
  const [one, two] = [runs.find((run) => run.workers === 1)!, runs.find((run) => run.workers === 2)!];
  const scaling = two.deny.requestsPerSecond / one.deny.requestsPerSecond;
  // CPU-bound throughput: what the workers would serve with a core each, from the CPU each request cost
  const capacity = (run: WorkersRun) => (run.workers * 1000) / run.deny.cpuMsPerRequest;
  const cpuBoundScaling = capacity(two) / capacity(one);
  const largestWorker = Math.max(...runs.flatMap((run) => run.idle.workersMiB));
  const worstSessions = Math.min(...runs.map((run) => run.newSessions.perCoreSecond));
  const verdicts: Array<[string, boolean]> = [
    [`idle RSS <= ${targets.idleRssMiBPerWorker} MiB per worker (largest ${mib(largestWorker)})`, largestWorker <= targets.idleRssMiBPerWorker],
    [`Deny-answered req/s from 1 to 2 workers >= ${targets.scaling}x (${scaling.toFixed(2)}x; cores used ${one.deny.coresUsed.toFixed(2)} -> ${two.deny.coresUsed.toFixed(2)})`, scaling >= targets.scaling],
    [`CPU-bound Deny-answered throughput (a core per worker at the CPU per request measured) from 1 to 2 workers >= ${targets.scaling}x (${capacity(one).toFixed(0)} -> ${capacity(two).toFixed(0)} req/s, ${cpuBoundScaling.toFixed(2)}x)`, cpuBoundScaling >= targets.scaling],
    [`new kubectl sessions >= ${targets.sessionsPerCoreSecond}/s per core (${worstSessions.toFixed(0)})`, worstSessions >= targets.sessionsPerCoreSecond],
  ];
  for (const [target, met] of verdicts) lines.push(`${met ? 'MET   ' : 'MISSED'} ${target}`);
  console.log(lines.join('\n'));
  console.log(JSON.stringify({ wrkSeconds, runs, memory, baseline, verdicts: Object.fromEntries(verdicts) }));
}

async function main(): Promise<void> {
  requireWrk();
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const operator = await startOperator(cluster);
    progress('sandbox ready');
    const { pod } = await setUpWorld(cluster);
    progress('world set up');
    const runs: WorkersRun[] = [];
    let last: Awaited<ReturnType<typeof measureWorkers>> | undefined;
    for (const workers of [1, 2]) {
      await last?.gateway.stop();
      last = await measureWorkers(cluster, workers, dir);
      runs.push(last.run);
      progress(JSON.stringify(last.run)); // the figures so far, should a later step fail
    }
    const memory = await memoryUnderLoad(last!.gateway, last!.token, pod);
    progress(JSON.stringify(memory));
    await last!.gateway.stop();
    const baselineRoot = process.env.KUBEGATE_BENCH_BASELINE;
    if (baselineRoot) progress(`baseline build at ${baselineRoot}`);
    const baseline = baselineRoot ? await baselineIdle(baselineRoot, cluster) : undefined;
    report(runs, memory, baseline);
    await operator.stop();
  } finally {
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
