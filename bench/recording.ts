/**
 * Recording, measured on a sandbox of its own with the sandbox's MinIO (object lock on):
 * 1. recorder throughput: StoreRecorder sessions recording a realistic mix at once into a `file://`
 *    store and into `s3://` MinIO, until flush() says all is uploaded: events/s, MB/s, this process's
 *    peak resident memory (bench/recording/throughput.ts);
 * 2. its cost on a request: GET p50/p99 at one connection and req/s at 32 connections (wrk), the same
 *    gateway in-process recording to MinIO vs dropping every event (bench/recording/latency.ts);
 * 3. 100 concurrent `kubectl exec` sessions through the real gateway process recording to MinIO: every
 *    line of every session in the bucket, in order; `kubegate sessions verify --all` passes; the
 *    gateway's peak resident memory and the time to record and upload (bench/recording/concurrent-execs.ts).
 * Prints a table and a JSON summary. Needs wrk (apt-get install wrk).
 * Run: npm run build && node_modules/.bin/node dist/bench/recording.js [wrk-seconds=8] [exec-sessions=100]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/recording/open-store.js';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { jitKubeconfig, sandboxS3Env, startGateway } from '../test/harness/gateway.js';
import { Kubectl } from '../test/harness/kubectl.js';
import { accessGrant, sessionPolicy } from '../test/harness/kubegate-objects.js';
import { startOperator } from '../test/harness/operator.js';
import { deploymentYaml, eventually, podNames } from '../test/harness/workloads.js';
import { requireWrk } from './gateway/wrk.js';
import { measureConcurrentExecs } from './recording/concurrent-execs.js';
import { measureRecordingCost } from './recording/latency.js';
import { report } from './recording/report.js';
import { measureRecorderThroughput, type RecordingMix, type ThroughputResult } from './recording/throughput.js';

const wrkSeconds = Number(process.argv[2] ?? 8);
const execSessions = Number(process.argv[3] ?? 100);
/** 20 sessions of ~7 MB each: ~145 MB per store, most of it stream frames (exec and logs output) */
const mix: RecordingMix = { sessions: 20, apiCalls: 200, streamFrames: 120 };
const linesPerSession = 500;
const policy = { namespace: 'bench-rec', name: 'prod' };
const grant = 'bench-rec-bot';
const target = 'bench-rec-target';

/** The policy, an Active grant with edit on `target`, a ConfigMap to GET and a kwok pod to exec into. */
async function setUpWorld(cluster: TestCluster): Promise<{ pod: string; configMapPath: string }> {
  const admin = await cluster.kubectl();
  for (const name of [policy.namespace, target]) await admin.ok(['create', 'namespace', name]);
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(policy.namespace, policy.name)) });
  const access = [{ namespace: target, clusterRole: 'edit' }];
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(accessGrant(policy.namespace, grant, { subject: { kind: 'User', name: grant }, duration: '2h', access, policyRef: { name: policy.name }, requestedBy: 'kubegate-admin' })) });
  const settings = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: target }, data: { 'app.properties': 'x'.repeat(1000) } };
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(settings) });
  await admin.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('bench-shell', 1) });
  await eventually(async () => {
    const phase = (await admin.ok(['get', 'accessgrant', grant, '-n', policy.namespace, '-o', 'jsonpath={.status.phase}'])).trim();
    if (phase !== 'Active') throw new Error(`grant is ${phase || 'Pending'}`);
  }, 30_000);
  await admin.ok(['rollout', 'status', 'deployment/bench-shell', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(admin, target, 'app=bench-shell');
  return { pod: pod!, configMapPath: `/api/v1/namespaces/${target}/configmaps/settings` };
}

async function main(): Promise<void> {
  requireWrk();
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  const localStore = mkdtempSync(join(tmpdir(), 'kubegate-bench-store-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    // the S3 stores opened in this process (the recorder's, the in-process gateway's) read the AWS environment
    Object.assign(process.env, sandboxS3Env(cluster));
    const bucketUrl = (part: string) => `s3://${cluster.state.s3.bucket}/bench-recording/${part}`;
    const operator = await startOperator(cluster);
    const world = await setUpWorld(cluster);
    const gateway = await startGateway(cluster, policy, { store: bucketUrl('execs'), env: sandboxS3Env(cluster) });
    const jitKubeconfigFile = await jitKubeconfig(cluster, { namespace: policy.namespace, name: grant }, gateway);
    const token = /token: (\S+)/.exec(readFileSync(jitKubeconfigFile, 'utf8'))![1]!;
    const admin = await cluster.kubectl();
    const gatewayAccountToken = (await admin.ok(['create', 'token', `kubegate-gateway-${policy.name}`, '-n', policy.namespace, '--duration=2h'])).trim();

    console.error('1/3 recording cost on gateway latency');
    const rounds = 3;
    const saturatingConnections = 32;
    const latency = await measureRecordingCost({
      policy,
      upstreamKubeconfig: cluster.kubeconfigFile(gatewayAccountToken),
      store: bucketUrl('latency'),
      token,
      apiPath: world.configMapPath,
      wrkSeconds,
      rounds,
      saturatingConnections,
    });

    // after the latency runs, so the heap this run grows does not sit under the gateways being timed
    console.error('2/3 recorder throughput');
    const throughput: ThroughputResult[] = [];
    for (const url of [bucketUrl('throughput'), `file://${localStore}`]) {
      const store = openStore(url);
      try {
        throughput.push(await measureRecorderThroughput(store, mix));
      } finally {
        store.close();
      }
    }

    console.error(`3/3 ${execSessions} concurrent exec sessions`);
    const execStore = openStore(gateway.store);
    const execs = await measureConcurrentExecs({
      gateway,
      store: execStore,
      cliEnv: { ...process.env, KUBEGATE_STORE: gateway.store },
      kubectl: new Kubectl(cluster.state.binaries.kubectl, jitKubeconfigFile),
      namespace: target,
      pod: world.pod,
      sessions: execSessions,
      linesPerSession,
    }).finally(() => execStore.close());

    report({ mix, throughput, latency: { ...latency, rounds, wrkSeconds, saturatingConnections }, execs });
    await gateway.stop();
    await operator.stop();
  } finally {
    await stopSandbox(dir);
    rmSync(dir, { recursive: true, force: true });
    rmSync(localStore, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
