import { availableParallelism, homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import * as k8s from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { withConnectionPool } from '../kube/client.js';
import { refreshingExecCredentials } from '../kube/exec-credential.js';
import { Gateway } from '../gateway/server.js';
import { policyFromApi, policyFromDirectory } from '../gateway/policy-source.js';
import { policyRecorder } from '../gateway/policy-recorder.js';
import type { Recorder } from '../recording/recorder.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { openStore, StoreUrlError } from '../recording/open-store.js';
import { recorderDefaults, StoreRecorder } from '../recording/store-recorder.js';
import type { RecordingStore } from '../recording/store.js';
import { tlsFromDirectory, tlsIssuedFromSecret, type ServingTls } from '../gateway/serving-tls.js';
import { LivePublisher, processChannel } from '../gateway/live/publisher.js';
import { LiveFeed } from '../gateway/live/primary.js';
import { recordingKeysFromSecret } from '../gateway/recording-keys.js';
import { evidenceDefaults } from '../recording/evidence.js';
import { keySetSigner } from '../pki/signing.js';
import { CliError } from './output.js';
import { parseWorkers, serveAsWorker, superviseGateway, workerIndex } from './gateway-workers.js';
import { defaultWorkers, readCgroupCpuFiles } from '../runtime/cpu-quota.js';
import { parseListen } from './operator.js';

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
}

export interface GatewayOverrides {
  /**
   * In place of the StoreRecorder the flags describe (no store is opened then). The CLI never passes
   * one — recording cannot be switched off; bench/recording.ts measures the gateway against a no-op.
   */
  recorder?: Recorder;
  logger?: Logger;
  /** The worker's index under the supervisor: it spools to `<spool-dir>/worker-<n>` (default: the spool dir itself). */
  worker?: number;
}

export interface BuiltGateway {
  /** Not started yet. */
  gateway: Gateway;
  logger: Logger;
  /** The drain: the gateway (which closes its sessions), then the recorder (uploads what it can), then the store. */
  stop(): Promise<void>;
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

/** The recorder of `kubegate gateway`: a StoreRecorder into --store, under the policy's recording settings as last read. */
async function storeRecorder(flags: GatewayFlags, worker: number | undefined, recording: () => CompiledPolicy['recording'] | undefined, logger: Logger, core: k8s.CoreV1Api): Promise<{ recorder: StoreRecorder; store: RecordingStore }> {
  const checkpointIntervalMs = flags.checkpointIntervalMs ?? evidenceDefaults.checkpointIntervalMs;
  for (const [flag, value] of [['--segment-max-bytes', flags.segmentMaxBytes], ['--segment-max-age-ms', flags.segmentMaxAgeMs], ['--checkpoint-interval-ms', checkpointIntervalMs]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new CliError(`${flag} must be a positive whole number, got ${value}`);
  }
  const spoolRoot = resolve(flags.spoolDir ?? defaultSpoolDir());
  const storeUrl = flags.store ?? process.env.KUBEGATE_STORE ?? `file://${join(spoolRoot, 'store')}`;
  const spoolDir = worker === undefined ? spoolRoot : join(spoolRoot, `worker-${worker}`);
  let store;
  try {
    store = openStore(storeUrl);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new CliError(error.message);
    throw error;
  }
  const keys = await recordingKeysFromSecret(core, policyRef(flags), logger);
  if (storeUrl.startsWith('file://')) logger.warn({ store: store.url }, 'recordings stay on this machine (file:// store); set --store or KUBEGATE_STORE to s3://BUCKET/PREFIX for durable, object-locked recordings');
  const recorder = new StoreRecorder({
    store,
    spoolDir,
    maxSegmentBytes: flags.segmentMaxBytes,
    maxSegmentAgeMs: flags.segmentMaxAgeMs,
    onStoreFailure: () => recording()?.onStoreFailure ?? 'Spool',
    retention: () => {
      const retention = recording()?.retention;
      return retention ? { mode: retention.mode === 'Compliance' ? 'Compliance' : 'Governance', days: retention.days } : undefined;
    },
    logger: logger.child({ component: 'recorder' }),
    ...(keys ? { evidence: { signer: keySetSigner(keys), checkpointIntervalMs } } : {}),
  });
  await recorder.start();
  logger.info({ store: store.url, spool: spoolDir }, 'recording');
  return { recorder, store };
}

function policyRef(flags: GatewayFlags): { namespace: string; name: string } {
  const [namespace, name] = flags.policy.split('/');
  if (!namespace || !name) throw new CliError(`--policy must be NAMESPACE/NAME, got "${flags.policy}"`);
  return { namespace, name };
}

/** The upstream API server and the gateway's own credential. */
function upstreamConfig(flags: GatewayFlags): k8s.KubeConfig {
  const upstream = new k8s.KubeConfig();
  if (flags.kubeconfig) {
    upstream.loadFromFile(flags.kubeconfig);
    refreshingExecCredentials(upstream, flags.kubeconfig);
  } else upstream.loadFromCluster();
  return withConnectionPool(upstream);
}

/** The serving TLS of --listen (the live events endpoint serves the same). */
async function servingTls(flags: GatewayFlags, upstream: k8s.KubeConfig): Promise<ServingTls> {
  if (flags.tlsDir) return tlsFromDirectory(flags.tlsDir);
  const hosts = ['localhost', '127.0.0.1', parseListen(flags.listen).host, ...flags.tlsSan].filter((h) => h && h !== '0.0.0.0');
  return tlsIssuedFromSecret(upstream.makeApiClient(k8s.CoreV1Api), policyRef(flags), hosts);
}

/** The primary's live events endpoint (--events-listen), started. */
export async function startLiveFeed(flags: GatewayFlags & { eventsListen: string }): Promise<LiveFeed> {
  const upstream = upstreamConfig(flags);
  const logger = pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' }).child({ role: 'primary' });
  const live = new LiveFeed({ listen: parseListen(flags.eventsListen), tls: await servingTls(flags, upstream), upstream, namespace: policyRef(flags).namespace, logger });
  await live.start();
  logger.info({ port: live.port() }, 'live events endpoint serving');
  return live;
}

/** Everything `kubegate gateway` runs, from its flags: the upstream, the policy, the recorder, TLS. */
export async function buildGateway(flags: GatewayFlags, overrides: GatewayOverrides = {}): Promise<BuiltGateway> {
  const policy = policyRef(flags);
  const root = overrides.logger ?? pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
  const logger = overrides.worker === undefined ? root : root.child({ worker: overrides.worker });
  const upstream = upstreamConfig(flags);
  const core = upstream.makeApiClient(k8s.CoreV1Api);
  const listen = parseListen(flags.listen);
  // a worker's events reach the primary's live feed; a gateway run in-process has no primary
  const live = new LivePublisher({ worker: overrides.worker ?? 0, channel: overrides.worker === undefined ? undefined : processChannel(), logger });
  // the recorder follows the policy the gateway has in force (it is built first: the gateway needs it)
  let inForce: Gateway | undefined;
  const recording = overrides.recorder ? undefined : await storeRecorder(flags, overrides.worker, () => inForce?.recordingSettings(), logger, core);
  const gateway = new Gateway({
    policy,
    listen,
    adminListen: parseListen(flags.adminListen),
    upstream,
    policyFiles: flags.policyDir ? policyFromDirectory(flags.policyDir) : policyFromApi(core, policy),
    tls: await servingTls(flags, upstream),
    recorder: policyRecorder(live.tee(overrides.recorder ?? recording!.recorder)),
    live,
    logger,
  });
  inForce = gateway;
  return {
    gateway,
    logger,
    stop: async () => {
      try {
        await gateway.stop();
        await recording?.recorder.stop();
      } finally {
        recording?.store.close();
      }
    },
  };
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
    .option('--checkpoint-interval-ms <ms>', "write a signed checkpoint of each session's chain tip this often while it moves (and when it ends)", (v: string) => Number(v), evidenceDefaults.checkpointIntervalMs)
    .option('--workers <n>', 'worker processes serving the same ports, each replaced by the supervising process when it dies; each spools to SPOOL-DIR/worker-N (default: the CPU quota of its cgroup, rounded up, else the CPUs available)', parseWorkers, defaultWorkers(readCgroupCpuFiles(), availableParallelism()))
    .action(async (flags: GatewayFlags & { workers: number; eventsListen: string }) => {
      const worker = workerIndex();
      if (worker === undefined) {
        const live = await startLiveFeed(flags);
        try {
          await superviseGateway(flags.workers, live);
        } finally {
          await live.stop();
        }
      }
      else await serveAsWorker(() => buildGateway(flags, { worker }));
    });
}
