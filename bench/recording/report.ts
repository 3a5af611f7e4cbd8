/** The recording bench's tables and its JSON summary. */
import type { MemoryPeak } from '../process-memory.js';
import type { ExecResult } from './concurrent-execs.js';
import type { LatencyResult } from './latency.js';
import type { RecordingMix, ThroughputResult } from './throughput.js';

export interface RecordingBenchRun {
  mix: RecordingMix;
  throughput: ThroughputResult[];
  latency: { off: LatencyResult; on: LatencyResult; rounds: number; wrkSeconds: number; saturatingConnections: number };
  execs: ExecResult;
}

const memory = (m: MemoryPeak) => `${m.baselineMiB.toFixed(0)} -> ${m.peakMiB.toFixed(0)} (+${m.growthMiB.toFixed(0)})`;
const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

export function report(run: RecordingBenchRun): void {
  const { mix, latency, execs } = run;
  console.log(`\n1. recorder throughput: ${mix.sessions} StoreRecorder sessions at once, each ${mix.apiCalls} API calls (request, decision, response; 1–4 KB bodies) and ${mix.streamFrames} × 32 KiB stdout frames, until flush() has everything in the store`);
  console.log(`${'store'.padEnd(8)}${'events'.padStart(9)}${'MB'.padStart(8)}${'s'.padStart(7)}${'events/s'.padStart(11)}${'MB/s'.padStart(8)}   bench RSS MiB: before -> peak (growth)`);
  for (const t of run.throughput) {
    const kind = t.store.split(':')[0]!;
    console.log(`${kind.padEnd(8)}${String(t.events).padStart(9)}${(t.bytes / 1e6).toFixed(0).padStart(8)}${t.seconds.toFixed(1).padStart(7)}${t.eventsPerSecond.toFixed(0).padStart(11)}${t.megabytesPerSecond.toFixed(1).padStart(8)}   ${memory(t.memory)}`);
  }

  console.log(`\n2. recording cost on GET one ConfigMap: the same gateway in-process, recording to MinIO vs a recorder that drops every event (median of ${latency.rounds} interleaved rounds, wrk ${latency.wrkSeconds} s each)`);
  console.log(`${'recording'.padEnd(12)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${`req/s @${latency.saturatingConnections}`.padStart(12)}`);
  for (const variant of ['off', 'on'] as const) {
    const r = latency[variant];
    console.log(`${variant.padEnd(12)}${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${r.requestsPerSecond.toFixed(0).padStart(12)}`);
  }
  const cost = { addedP50Ms: latency.on.p50Ms - latency.off.p50Ms, addedP99Ms: latency.on.p99Ms - latency.off.p99Ms, throughputRatio: latency.on.requestsPerSecond / latency.off.requestsPerSecond };
  console.log(`${'on − off'.padEnd(12)}${signed(cost.addedP50Ms).padStart(9)}${signed(cost.addedP99Ms).padStart(9)}${`× ${cost.throughputRatio.toFixed(2)}`.padStart(12)}`);

  console.log(`\n3. ${execs.sessions} concurrent kubectl exec sessions (${execs.linesPerSession} lines each) through the gateway process, recording to MinIO`);
  console.log(`  every kubectl done after ${execs.execSeconds.toFixed(1)} s; every session's output in the bucket after ${execs.recordedSeconds.toFixed(1)} s`);
  console.log(`  recorded stdout complete and in order: ${execs.complete}/${execs.sessions}`);
  for (const problem of execs.problems.slice(0, 10)) console.log(`    ✗ ${problem}`);
  console.log(`  kubegate sessions verify --all (after the gateway drained): ${execs.verify.intact}/${execs.verify.sessions} intact`);
  for (const problem of execs.verify.problems.slice(0, 10)) console.log(`    ✗ ${problem}`);
  console.log(`  gateway RSS MiB: before -> peak (growth): ${memory(execs.gatewayMemory)}`);

  const nothingLost = execs.complete === execs.sessions && execs.verify.sessions === execs.sessions && execs.verify.intact === execs.sessions;
  console.log(`\nDESIGN.md target "${execs.sessions} concurrent exec sessions recorded with nothing lost": ${nothingLost ? 'met' : 'MISSED'}`);
  const summary = { ...run, recordingCost: cost, targetsMet: { [`${execs.sessions} concurrent exec sessions recorded with nothing lost`]: nothingLost } };
  console.log(`\nJSON summary:\n${JSON.stringify(summary, (_, value: unknown) => (typeof value === 'number' ? Number(value.toFixed(3)) : value))}`);
}
