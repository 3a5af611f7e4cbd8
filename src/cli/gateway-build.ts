/**
 * The gateway a `kubegate gateway` worker (or a bench, in-process) runs, built from its flags: the
 * upstream, the policy, the recorder, TLS. Loaded by the workers only (gateway.ts imports it when it
 * serves as one): the primary needs none of it.
 */
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { Gateway } from '../gateway/server.js';
import { sessionDefaults } from '../gateway/sessions.js';
import { policyFromApi, policyFromDirectory } from '../gateway/policy-source.js';
import { policyRecorder } from '../gateway/policy-recorder.js';
import type { Recorder } from '../recording/recorder.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { openStore, StoreUrlError } from '../recording/open-store.js';
import { StoreRecorder } from '../recording/store-recorder.js';
import type { RecordingStore } from '../recording/store.js';
import { LivePublisher, processChannel } from '../gateway/live/publisher.js';
import { recordingKeysFromSecret } from '../gateway/recording-keys.js';
import { evidenceDefaults } from '../recording/evidence.js';
import { keySetSigner } from '../pki/signing.js';
import { CliError } from './output.js';
import { parseListen } from './listen.js';
import type { RawKubeClient } from '../kube/raw-client.js';
import type { ServingTls } from '../gateway/serving-tls.js';
import { defaultSpoolDir, gatewayApi, policyRef, servingTls, upstreamConfig, type GatewayFlags } from './gateway.js';

export interface GatewayOverrides {
  /**
   * In place of the StoreRecorder the flags describe (no store is opened then). The CLI never passes
   * one — recording cannot be switched off; bench/recording.ts measures the gateway against a no-op.
   */
  recorder?: Recorder;
  logger?: Logger;
  /** In place of the serving certificate the flags describe: a worker's, which the primary gives it (`servingTlsFromPrimary`). */
  tls?: ServingTls;
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

const spoolRootOf = (flags: GatewayFlags) => resolve(flags.spoolDir ?? defaultSpoolDir());

/** The recorder of `kubegate gateway`: a StoreRecorder into --store, under the policy's recording settings as last read. */
async function storeRecorder(flags: GatewayFlags, worker: number | undefined, recording: () => CompiledPolicy['recording'] | undefined, logger: Logger, api: RawKubeClient): Promise<{ recorder: StoreRecorder; store: RecordingStore }> {
  const checkpointIntervalMs = flags.checkpointIntervalMs ?? evidenceDefaults.checkpointIntervalMs;
  const spoolRoot = spoolRootOf(flags);
  const storeUrl = flags.store ?? process.env.KUBEGATE_STORE ?? `file://${join(spoolRoot, 'store')}`;
  const spoolDir = worker === undefined ? spoolRoot : join(spoolRoot, `worker-${worker}`);
  let store;
  try {
    store = openStore(storeUrl);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new CliError(error.message);
    throw error;
  }
  const keys = await recordingKeysFromSecret(api, policyRef(flags), logger);
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

/** The flags that are counts of bytes or milliseconds, checked whichever parts of the gateway run (a session idle time of 0 would sweep without pause). */
function checkNumberFlags(flags: GatewayFlags): void {
  const numbers = [
    ['--segment-max-bytes', flags.segmentMaxBytes],
    ['--segment-max-age-ms', flags.segmentMaxAgeMs],
    ['--checkpoint-interval-ms', flags.checkpointIntervalMs ?? evidenceDefaults.checkpointIntervalMs],
    ['--session-idle-ms', flags.sessionIdleMs ?? sessionDefaults.idleMs],
  ] as const;
  for (const [flag, value] of numbers) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new CliError(`${flag} must be a positive whole number, got ${value}`);
  }
}

/** Everything `kubegate gateway` runs, from its flags: the upstream, the policy, the recorder, TLS. */
export async function buildGateway(flags: GatewayFlags, overrides: GatewayOverrides = {}): Promise<BuiltGateway> {
  checkNumberFlags(flags);
  const policy = policyRef(flags);
  const root = overrides.logger ?? pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
  const logger = overrides.worker === undefined ? root : root.child({ worker: overrides.worker });
  const upstream = upstreamConfig(flags);
  const api = gatewayApi(upstream);
  const listen = parseListen(flags.listen);
  // a worker's events reach the primary's live feed; a gateway run in-process has no primary
  const live = new LivePublisher({ worker: overrides.worker ?? 0, channel: overrides.worker === undefined ? undefined : processChannel(), logger });
  // the recorder follows the policy the gateway has in force (it is built first: the gateway needs it)
  let inForce: Gateway | undefined;
  const recording = overrides.recorder ? undefined : await storeRecorder(flags, overrides.worker, () => inForce?.recordingSettings(), logger, api);
  const gateway = new Gateway({
    policy,
    listen,
    adminListen: parseListen(flags.adminListen),
    upstream,
    api,
    policyFiles: flags.policyDir ? policyFromDirectory(flags.policyDir) : policyFromApi(api, policy),
    tls: overrides.tls ?? (await servingTls(flags, api)),
    recorder: policyRecorder(live.tee(overrides.recorder ?? recording!.recorder)),
    live,
    logger,
    ...(flags.sessionIdleMs !== undefined ? { sessionIdleMs: flags.sessionIdleMs } : {}),
    // per process (a replacement worker takes its predecessor's and empties it), beside the workers' spools
    bodySpillDir: join(spoolRootOf(flags), 'bodies', `worker-${overrides.worker ?? 0}`),
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
        api.close();
      }
    },
  };
}

