/** The gateway bench's table, its comparisons with going direct against the DESIGN.md targets, and the JSON summary. */
import type { MemoryPeak } from '../process-memory.js';
import { megabytesPerSecond, type Transfer } from './transfers.js';
import { issue14Verdicts, notMeasuredHere } from './targets.js';
import type { Throughput } from './new-sessions.js';

export type RequestKind = 'GET' | 'LIST';
export type TransferKind = 'list' | 'exec' | 'portForward';

export interface RequestResult {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  /** the proxy's CPU (every process of it) per request under the saturating load (none for direct) */
  cpuMsPerRequest?: number;
  /** the API server's CPU per request meanwhile, less what it spends idle */
  apiserverCpuMsPerRequest?: number;
  /** the proxy's resident memory while the load ran (none for direct) */
  memory?: MemoryPeak;
}

export interface TransferResult {
  transfer: Transfer;
  /** the proxy's CPU per MB passed, over every run (none for direct) */
  cpuMsPerMB?: number;
  /** the proxy's resident memory while the transfers ran (none for direct) */
  memory?: MemoryPeak;
}

export interface PathResults {
  /** the proxy's resident memory before any measurement (every process of it) */
  idleRssMiB?: number;
  /** a gateway's: its workers' own, each */
  idleWorkersRssMiB?: number[];
  requests: Partial<Record<RequestKind, RequestResult>>;
  transfers: Partial<Record<TransferKind, TransferResult>>;
}

export interface BenchRun {
  results: Record<string, PathResults>;
  kubeRbacProxy: { served: boolean; answer: string };
  wrkSeconds: number;
  saturatingConnections: number;
  size: { smallConfigMaps: number; bulkConfigMaps: number; bulkConfigMapBytes: number };
  /** the kubegate source measured: `git describe --dirty` of the checkout */
  kubegateVersion: string;
  streamBytes: number;
  transferRuns: number;
  /** the gateway's worker processes */
  gatewayWorkers: number;
  /** new kubectl sessions through the gateway, each counted until sealed and uploaded */
  sessions: Throughput & { perCoreSecond: number };
  /** the gateway's memory (every process) while idle watches were held: how many answered of how many asked */
  watches: MemoryPeak & { held: number; asked: number };
}

/** DESIGN.md "Performance targets", for kubegate against direct. */
const targets = {
  addedP50Ms: 1,
  addedP99Ms: 5,
  throughputRatio: 0.7,
  /**
   * streamed, not buffered: a proxy that holds a response whole grows by at least the payload; one that
   * streams grows only by garbage not yet collected (in Node, tens of MiB at a few hundred MB/s)
   */
  memoryGrowthPerPayload: 1,
};

const mib = 2 ** 20;

function labels(run: BenchRun): Record<RequestKind | TransferKind, string> {
  const listBytes = run.results.direct?.transfers.list?.transfer.bytes ?? 0;
  return {
    GET: 'GET one ConfigMap',
    LIST: `LIST ${run.size.smallConfigMaps} ConfigMaps`,
    list: `LIST ${run.size.bulkConfigMaps} ConfigMaps, ${(listBytes / 1e6).toFixed(1)} MB`,
    exec: `exec stdout, ${run.streamBytes / mib} MiB`,
    portForward: `port-forward, ${run.streamBytes / mib} MiB`,
  };
}

interface Comparison {
  requests: Partial<Record<RequestKind, { addedP50Ms: number; addedP99Ms: number; throughputRatio: number }>>;
  transfers: Partial<Record<TransferKind, { throughputRatio: number; memoryGrowthMiB?: number }>>;
}

function compare(direct: PathResults, proxy: PathResults): Comparison {
  const comparison: Comparison = { requests: {}, transfers: {} };
  for (const kind of ['GET', 'LIST'] as const) {
    const [base, via] = [direct.requests[kind], proxy.requests[kind]];
    if (!base || !via) continue;
    comparison.requests[kind] = { addedP50Ms: via.p50Ms - base.p50Ms, addedP99Ms: via.p99Ms - base.p99Ms, throughputRatio: via.requestsPerSecond / base.requestsPerSecond };
  }
  for (const kind of ['list', 'exec', 'portForward'] as const) {
    const [base, via] = [direct.transfers[kind], proxy.transfers[kind]];
    if (!base || !via) continue;
    comparison.transfers[kind] = { throughputRatio: megabytesPerSecond(via.transfer) / megabytesPerSecond(base.transfer), memoryGrowthMiB: via.memory?.growthMiB };
  }
  return comparison;
}

/** Each DESIGN.md target kubegate is held to, met or missed. */
function verdicts(run: BenchRun, kubegate: Comparison): Record<string, boolean> {
  const met: Record<string, boolean> = {};
  for (const [kind, c] of Object.entries(kubegate.requests)) {
    met[`${kind} p50 added < ${targets.addedP50Ms} ms`] = c.addedP50Ms < targets.addedP50Ms;
    met[`${kind} p99 added < ${targets.addedP99Ms} ms`] = c.addedP99Ms < targets.addedP99Ms;
    met[`${kind} saturated req/s >= ${targets.throughputRatio} of direct`] = c.throughputRatio >= targets.throughputRatio;
  }
  for (const [kind, c] of Object.entries(kubegate.transfers) as Array<[TransferKind, Comparison['transfers'][TransferKind] & object]>) {
    met[`${kind} MB/s >= ${targets.throughputRatio} of direct`] = c.throughputRatio >= targets.throughputRatio;
    const payloadMiB = (run.results.direct?.transfers[kind]?.transfer.bytes ?? 0) / mib;
    if (c.memoryGrowthMiB !== undefined) met[`${kind} memory growth < the ${payloadMiB.toFixed(0)} MiB payload (streamed, not buffered)`] = c.memoryGrowthMiB < payloadMiB * targets.memoryGrowthPerPayload;
  }
  return met;
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

/** The gateway's CPU per request split into the Node floor's (Node's HTTP and TLS) and kubegate's own work. */
function beyondNodeFloor(results: Record<string, PathResults>): string[] {
  return (['GET', 'LIST'] as const).flatMap((kind) => {
    const [gateway, floor] = [results.kubegate?.requests[kind]?.cpuMsPerRequest, results['node floor']?.requests[kind]?.cpuMsPerRequest];
    if (gateway === undefined || floor === undefined) return [];
    return [`(${kind}: the gateway's ${gateway.toFixed(3)} ms per request = the Node floor's ${floor.toFixed(3)} + kubegate's own ${(gateway - floor).toFixed(3)})`];
  });
}

export function report(run: BenchRun): void {
  const label = labels(run);
  const paths = Object.keys(run.results);
  const peer = run.kubeRbacProxy.served
    ? 'go peer = bench/go-peer (standard library reverse proxy); kube-rbac-proxy is served by the Go module proxy but not wired in yet'
    : `go peer = bench/go-peer (standard library reverse proxy, same header work as kubegate minus policy and recording), standing in for kube-rbac-proxy: the Go module proxy answered "${run.kubeRbacProxy.answer}"`;
  console.log(`\nkubegate ${run.kubegateVersion}, recording every request and stream frame (the test harness's default file:// store)`);
  console.log(peer);
  console.log('kubectl proxy = Kubernetes\' own Go proxy (the test binaries\' kubectl), as the direct user, plain HTTP toward its client (no TLS there: a lower bound)');
  console.log('node floor = bench/node-peer: a bare Node.js proxy (TLS both sides, the gateway\'s token and impersonation headers, no authentication, policy or recording): what Node\'s HTTP and TLS cost here');
  console.log(`every path reaches the same API server with the same rights; wrk speaks HTTP/1.1; the gateway runs ${run.gatewayWorkers} worker(s)\n`);

  const idle = paths.filter((p) => run.results[p]!.idleRssMiB !== undefined).map((p) => `${p} ${run.results[p]!.idleRssMiB!.toFixed(0)} MiB`);
  console.log(`proxy resident memory before any measurement: ${idle.join(', ')}\n`);
  console.log(`${'request (wrk)'.padEnd(34)}${'path'.padEnd(15)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${`req/s @${run.saturatingConnections}`.padStart(12)}${'CPU ms/req'.padStart(12)}${'API srv ms/req'.padStart(16)}   proxy peak RSS MiB`);
  for (const kind of ['GET', 'LIST'] as const) {
    for (const path of paths) {
      const r = run.results[path]!.requests[kind];
      if (!r) continue;
      const memory = r.memory ? r.memory.peakMiB.toFixed(0).padStart(8) : '';
      const cpu = `${(r.cpuMsPerRequest?.toFixed(3) ?? '').padStart(12)}${(r.apiserverCpuMsPerRequest?.toFixed(3) ?? '').padStart(16)}`;
      console.log(`${(path === paths[0] ? label[kind] : '').padEnd(34)}${path.padEnd(15)}${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${r.requestsPerSecond.toFixed(0).padStart(12)}${cpu}   ${memory}`);
    }
  }
  console.log(`(p50/p99 at 1 connection, req/s and CPU per request at ${run.saturatingConnections} connections, ${run.wrkSeconds} s each; CPU from /proc, a proxy's with all its processes)\n`);

  console.log(`${'transfer'.padEnd(34)}${'path'.padEnd(15)}${'MB/s'.padStart(9)}${'CPU ms/MB'.padStart(11)}   proxy RSS MiB: before -> peak (growth)`);
  for (const kind of ['list', 'exec', 'portForward'] as const) {
    for (const path of paths) {
      const r = run.results[path]!.transfers[kind];
      if (!r) continue;
      const memory = r.memory ? `${r.memory.baselineMiB.toFixed(0)} -> ${r.memory.peakMiB.toFixed(0)} (${signed(r.memory.growthMiB)})` : '';
      console.log(`${(path === paths[0] ? label[kind] : '').padEnd(34)}${path.padEnd(15)}${megabytesPerSecond(r.transfer).toFixed(0).padStart(9)}${(r.cpuMsPerMB?.toFixed(2) ?? '').padStart(11)}   ${memory}`);
    }
  }
  console.log(`(median of ${run.transferRuns} runs; exec and port-forward timed from first byte to last)\n`);

  const direct = run.results.direct!;
  const comparisons = Object.fromEntries(paths.filter((p) => p !== 'direct').map((p) => [p, compare(direct, run.results[p]!)]));
  console.log(`${'against direct'.padEnd(34)}${'path'.padEnd(15)}${'+p50 ms'.padStart(9)}${'+p99 ms'.padStart(9)}${'ratio'.padStart(12)}`);
  for (const kind of ['GET', 'LIST', 'list', 'exec', 'portForward'] as const) {
    for (const [path, c] of Object.entries(comparisons)) {
      const first = path === Object.keys(comparisons)[0];
      const request = kind === 'GET' || kind === 'LIST' ? c.requests[kind] : undefined;
      const transfer = kind !== 'GET' && kind !== 'LIST' ? c.transfers[kind] : undefined;
      if (request) console.log(`${(first ? label[kind] : '').padEnd(34)}${path.padEnd(15)}${signed(request.addedP50Ms).padStart(9)}${signed(request.addedP99Ms).padStart(9)}${request.throughputRatio.toFixed(2).padStart(12)}`);
      if (transfer) console.log(`${(first ? label[kind] : '').padEnd(34)}${path.padEnd(15)}${''.padStart(18)}${transfer.throughputRatio.toFixed(2).padStart(12)}`);
    }
  }
  const { sessions, watches } = run;
  console.log(`\nnew kubectl sessions through kubegate (16 connections, each request a session of its own): ${sessions.requestsPerSecond.toFixed(0)}/s, ${sessions.cpuMsPerRequest.toFixed(2)} ms CPU each until sealed and uploaded, ${sessions.perCoreSecond.toFixed(0)} per core-second`);
  console.log(`${watches.asked} idle watches through kubegate (${watches.held} answered): RSS ${watches.baselineMiB.toFixed(0)} -> ${watches.peakMiB.toFixed(0)} MiB (${signed(watches.growthMiB)}), ${((watches.growthMiB * 1024) / Math.max(1, watches.held)).toFixed(0)} KiB each`);
  const met = comparisons.kubegate ? verdicts(run, comparisons.kubegate) : {};
  console.log('\nkubegate against the DESIGN.md targets:');
  for (const [target, ok] of Object.entries(met)) console.log(`  ${ok ? 'met   ' : 'MISSED'}  ${target}`);
  const issue14 = issue14Verdicts(run.results, sessions.perCoreSecond);
  console.log('\nkubegate against issue 14\'s targets:');
  for (const [target, ok] of Object.entries(issue14)) console.log(`  ${ok ? 'met   ' : 'MISSED'}  ${target}`);
  for (const target of notMeasuredHere) console.log(`  (not measured by this bench: ${target})`);
  for (const line of beyondNodeFloor(run.results)) console.log(`  ${line}`);

  const summary = { kubegate: run.kubegateVersion, sessions, watches, peer, wrkSeconds: run.wrkSeconds, saturatingConnections: run.saturatingConnections, size: run.size, streamBytes: run.streamBytes, results: run.results, againstDirect: comparisons, targetsMet: met, issue14TargetsMet: issue14 };
  console.log(`\nJSON summary:\n${JSON.stringify(summary, (_, value: unknown) => (typeof value === 'number' ? Number(value.toFixed(3)) : value))}`);
}
