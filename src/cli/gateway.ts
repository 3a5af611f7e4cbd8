import { availableParallelism, homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Agent } from 'node:https';
import type { Command } from 'commander';
import { pino } from 'pino';
import { connectionFromKubeconfigFile, inClusterConnection, type KubeConnection } from '../kube/connection.js';
import { RawKubeClient } from '../kube/raw-client.js';
import { recorderDefaults } from '../recording/recorder.js';
import { evidenceDefaults } from '../recording/evidence.js';
import { tlsFromDirectory, tlsIssuedFromSecret, type ServingTls } from '../gateway/serving-tls.js';
import { LiveFeed } from '../gateway/live/primary.js';
import { sessionDefaults } from '../gateway/sessions.js';
import { CliError, fromKubeconfig } from './output.js';
import { parseWorkers, serveAsWorker, servingTlsFromPrimary, superviseGateway, workerIndex } from './gateway-workers.js';
import { defaultWorkers, readCgroupCpuFiles } from '../runtime/cpu-quota.js';
import { parseListen } from './listen.js';

export interface GatewayFlags {
  policy: string;
  listen: string;
  adminListen: string;
  /** The primary's live events endpoint (`startLiveFeed`); a worker ignores it. */
  eventsListen?: string;
  kubeconfig?: string;
  policyDir?: string;
  tlsDir?: string;
  tlsSan: string[];
  store?: string;
  /** Default: `defaultSpoolDir()`. */
  spoolDir?: string;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  /** How often moved chain tips are checkpointed (default `evidenceDefaults.checkpointIntervalMs`). */
  checkpointIntervalMs?: number;
  /** A kubectl session closes after this long without a request (default `sessionDefaults.idleMs`). */
  sessionIdleMs?: number;
}

/**
 * The spool's default: a per-user state directory (XDG base directories: `$XDG_STATE_HOME`, ignored
 * unless absolute, else `~/.local/state`), never the directory the gateway happens to start from. In a
 * cluster the operator's Deployment passes `--spool-dir=/var/spool/kubegate`, the pod's own volume.
 */
export function defaultSpoolDir(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const stateHome = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(home, '.local', 'state');
  return join(stateHome, 'kubegate', 'spool');
}

export function policyRef(flags: GatewayFlags): { namespace: string; name: string } {
  const [namespace, name] = flags.policy.split('/');
  if (!namespace || !name) throw new CliError(`--policy must be NAMESPACE/NAME, got "${flags.policy}"`);
  return { namespace, name };
}

/**
 * The upstream API server and the gateway's own credential: --kubeconfig, else the pod's ServiceAccount.
 * Read without @kubernetes/client-node, which would cost each gateway process ~90 MiB (kube/raw-client.ts).
 */
export function upstreamConfig(flags: GatewayFlags): KubeConnection {
  return fromKubeconfig(flags.kubeconfig, () => (flags.kubeconfig ? connectionFromKubeconfigFile(flags.kubeconfig) : inClusterConnection()));
}

/** The gateway's own API calls (policy, keys, grants, approvals, reviews), on kept-alive connections. */
export function gatewayApi(upstream: KubeConnection): RawKubeClient {
  return new RawKubeClient(upstream, new Agent({ keepAlive: true, maxSockets: 16 }));
}

/** The serving TLS of --listen (the live events endpoint serves the same). */
export async function servingTls(flags: GatewayFlags, api: RawKubeClient): Promise<ServingTls> {
  if (flags.tlsDir) return tlsFromDirectory(flags.tlsDir);
  const hosts = ['localhost', '127.0.0.1', parseListen(flags.listen).host, ...flags.tlsSan].filter((h) => h && h !== '0.0.0.0');
  return tlsIssuedFromSecret(api, policyRef(flags), hosts);
}

/** The primary's live events endpoint (--events-listen), started. */
export async function startLiveFeed(flags: GatewayFlags & { eventsListen: string }, api: RawKubeClient): Promise<LiveFeed> {
  const logger = pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' }).child({ role: 'primary' });
  const live = new LiveFeed({ listen: parseListen(flags.eventsListen), tls: await servingTls(flags, api), api, namespace: policyRef(flags).namespace, logger });
  await live.start();
  logger.info({ port: live.port() }, 'live events endpoint serving');
  return live;
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description("serve one SessionPolicy's gateway: authenticate JIT tokens, enforce the policy, forward by impersonation, record")
    .requiredOption('--policy <namespace/name>', 'the SessionPolicy to serve')
    .option('--listen <host:port>', 'HTTPS address for kubectl', '0.0.0.0:8443')
    .option('--admin-listen <host:port>', '/healthz, /readyz and /metrics', '0.0.0.0:8081')
    .option('--events-listen <host:port>', 'HTTPS live events (served by the supervising process for every worker): GET /events, DELETE /sessions/ID, for holders of sessions.kubegate.dev watch/delete', '0.0.0.0:8082')
    .option('--kubeconfig <file>', 'outside a cluster: the upstream API server and the gateway credentials (its ServiceAccount token)')
    .option('--policy-dir <dir>', 'the mounted compiled-policy ConfigMap (default: read it from the API)')
    .option('--tls-dir <dir>', 'the mounted TLS Secret (default: issue a serving certificate from the policy CA)')
    .option('--tls-san <name>', 'extra name or IP for an issued serving certificate (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('--store <url>', 'where recordings go: s3://BUCKET/PREFIX (AWS_* environment) or file://DIR (default $KUBEGATE_STORE, else file://SPOOL-DIR/store)')
    .option('--spool-dir <dir>', 'local recording spool: segments wait here, fsynced, until the store has them (default: $XDG_STATE_HOME/kubegate/spool, else ~/.local/state/kubegate/spool)')
    .option('--segment-max-bytes <bytes>', 'seal a recording segment at this size', (v: string) => Number(v), recorderDefaults.maxSegmentBytes)
    .option('--segment-max-age-ms <ms>', 'seal a recording segment once this old', (v: string) => Number(v), recorderDefaults.maxSegmentAgeMs)
    .option('--session-idle-ms <ms>', 'close a kubectl session (and seal its recording) after this long without a request', (v: string) => Number(v), sessionDefaults.idleMs)
    .option('--checkpoint-interval-ms <ms>', "write a signed checkpoint of each session's chain tip this often while it moves (and when it ends)", (v: string) => Number(v), evidenceDefaults.checkpointIntervalMs)
    .option('--workers <n>', 'worker processes serving the same ports, each replaced by the supervising process when it dies; each spools to SPOOL-DIR/worker-N (default: the CPU quota of its cgroup, rounded up, else the CPUs available)', parseWorkers, defaultWorkers(readCgroupCpuFiles(), availableParallelism()))
    .action(async (flags: GatewayFlags & { workers: number; eventsListen: string }) => {
      const worker = workerIndex();
      if (worker === undefined) {
        const api = gatewayApi(upstreamConfig(flags));
        const live = await startLiveFeed(flags, api);
        try {
          await superviseGateway(flags.workers, live, () => servingTls(flags, api));
        } finally {
          await live.stop();
        }
      }
      // the worker's gateway is loaded in the workers only: the primary holds no session
      else await serveAsWorker(async () => (await import('./gateway-build.js')).buildGateway(flags, { worker, tls: await servingTlsFromPrimary() }));
    });
}
