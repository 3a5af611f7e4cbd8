/**
 * What recording costs a request: two gateways built by `kubegate gateway`'s own `buildGateway`, in
 * this process, serving the same policy from the same upstream — one recording to MinIO exactly as the
 * CLI does, one whose recorder drops every event (the product has no switch to turn recording off, and
 * must not: the no-op exists only here). wrk drives both, interleaved over rounds, and the median round
 * of each is kept, so a noisy minute on a shared machine hits both alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { GatewayFlags } from '../../src/cli/gateway.js';
import { buildGateway, type BuiltGateway } from '../../src/cli/gateway-build.js';
import type { Recorder } from '../../src/recording/recorder.js';
import { recorderDefaults } from '../../src/recording/recorder.js';
import { runWrk, type LoadResult } from '../gateway/wrk.js';

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

export interface LatencySetup {
  policy: { namespace: string; name: string };
  /** the gateway ServiceAccount's kubeconfig toward the API server */
  upstreamKubeconfig: string;
  /** `s3://…` for the recording gateway */
  store: string;
  /** a JIT token of a grant under `policy` */
  token: string;
  /** what wrk GETs, e.g. /api/v1/namespaces/x/configmaps/y */
  apiPath: string;
  wrkSeconds: number;
  rounds: number;
  saturatingConnections: number;
}

const droppingRecorder: Recorder = {
  healthy: () => true,
  open: () => ({ record: () => Promise.resolve(), close: () => Promise.resolve() }),
};

function flags(setup: LatencySetup, spoolDir: string): GatewayFlags {
  return {
    policy: `${setup.policy.namespace}/${setup.policy.name}`,
    listen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    kubeconfig: setup.upstreamKubeconfig,
    tlsSan: [],
    store: setup.store,
    spoolDir,
    segmentMaxBytes: recorderDefaults.maxSegmentBytes,
    segmentMaxAgeMs: recorderDefaults.maxSegmentAgeMs,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Recording on and off: GET p50/p99 at one connection, req/s at `saturatingConnections`. */
export async function measureRecordingCost(setup: LatencySetup): Promise<Record<'off' | 'on', LatencyResult>> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'kubegate-bench-spool-'));
  // the gateways log as the CLI does, at warn: per-request info lines would land in the bench's output
  const logger = pino({ name: 'kubegate-gateway', level: 'warn' });
  const gateways: Record<'off' | 'on', BuiltGateway> = {
    off: await buildGateway(flags(setup, spoolDir), { recorder: droppingRecorder, logger }),
    on: await buildGateway(flags(setup, spoolDir), { logger }),
  };
  try {
    for (const built of Object.values(gateways)) await built.gateway.start();
    const url = (variant: 'off' | 'on') => `https://127.0.0.1:${gateways[variant].gateway.port()}${setup.apiPath}`;
    const rounds: Record<'off' | 'on', { latency: LoadResult; load: LoadResult }[]> = { off: [], on: [] };
    for (let round = 0; round < setup.rounds; round++) {
      for (const variant of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        await runWrk(url(variant), setup.token, 4, 2); // warm-up: connection pools, the JIT compiler
        rounds[variant].push({
          latency: await runWrk(url(variant), setup.token, 1, setup.wrkSeconds),
          load: await runWrk(url(variant), setup.token, setup.saturatingConnections, setup.wrkSeconds),
        });
      }
    }
    const summary = (runs: (typeof rounds)['on']): LatencyResult => ({
      p50Ms: median(runs.map((run) => run.latency.p50Ms)),
      p99Ms: median(runs.map((run) => run.latency.p99Ms)),
      requestsPerSecond: median(runs.map((run) => run.load.requestsPerSecond)),
    });
    return { off: summary(rounds.off), on: summary(rounds.on) };
  } finally {
    for (const built of Object.values(gateways)) await built.stop();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}
