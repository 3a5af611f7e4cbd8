/**
 * The operator at scale, against a real sandbox with the real operator process:
 * 1. 5,000 AccessGrants created at once: time until every one is Active with its RoleBinding in place,
 *    the operator's resident memory meanwhile (targets: all bindings within 60 s, at most 200 MiB), the
 *    CPU each grant cost the operator, the API server and etcd (read from /proc, robust to a shared
 *    machine's load, unlike the time), and the API requests each cost, by verb and resource;
 * 2. expiry lag: grants with staggered short durations; for each, the time from status.expiresAt to the
 *    deletion of its binding, seen by a watch (target: p99 under 2 s).
 * KUBEGATE_BENCH_CPU_PROFILE=DIR profiles the operator (`--cpu-prof`, written as it stops) and prints the
 * summary of its profile.
 *
 * Run: npm run build && node dist/bench/operator-grants.js [grants=5000] [expiring=300]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { Agent } from 'node:https';
import { Informer } from '../src/runtime/informer.js';
import { RawKubeClient } from '../src/kube/raw-client.js';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { startOperator } from '../test/harness/operator.js';
import { accessGrant, sessionPolicy } from '../test/harness/kubegate-objects.js';
import { inBatches } from './in-batches.js';
import { rssMiB } from './process-memory.js';
import { cpuDuringLessIdle, idleCpuRate } from './gateway/cpu.js';
import { apiRequestCounts, requestsBetween } from './api-requests.js';
import { summarizeProfiles } from './cpu-profile.js';

const grantsTotal = Number(process.argv[2] ?? 5000);
const expiringTotal = Number(process.argv[3] ?? 300);
const profileDir = process.env.KUBEGATE_BENCH_CPU_PROFILE;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The operator's own counts of reconciles by controller and result, and of retries, from its /metrics. */
async function reconcileCounts(healthUrl: string): Promise<string> {
  const text = await (await fetch(`${healthUrl}/metrics`)).text();
  const counted = /^(controller_runtime_reconcile_total|controller_runtime_reconcile_errors_total|workqueue_retries_total)\{(.*)\} (\d+)/;
  return text
    .split('\n')
    .map((line) => counted.exec(line))
    .filter((match) => match && match[3] !== '0')
    .map((match) => `${match![1]!.replace(/^controller_runtime_/, '')}{${match![2]!.replace(/"/g, '')}} ${match![3]}`)
    .join(', ');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const profile = profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {};
    const operator = await startOperator(cluster, { extraArgs: ['--workers=8'], env: profile });
    const pid = operator.process.pid!;
    const custom = cluster.admin.makeApiClient(k8s.CustomObjectsApi);
    const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
    const rbac = cluster.admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const namespace = 'bench';
    const target = 'bench-target';
    for (const name of [namespace, target]) await core.createNamespace({ body: { metadata: { name } } });
    await custom.createNamespacedCustomObject({ group: 'kubegate.dev', version: 'v1alpha1', plural: 'sessionpolicies', namespace, body: sessionPolicy(namespace, 'prod') });
    // labelled by phase: the expiry phase polls its own few hundred grants, not every grant in the namespace
    const phaseLabel = 'bench.kubegate.dev/phase';
    const create = (name: string, duration: string, phase: 'activation' | 'expiry') => {
      const body = accessGrant(namespace, name, { subject: { kind: 'User', name: `bot-${name}` }, duration, access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' }) as k8s.KubernetesObject;
      body.metadata!.labels = { [phaseLabel]: phase };
      return custom.createNamespacedCustomObject({ group: 'kubegate.dev', version: 'v1alpha1', plural: 'accessgrants', namespace, body });
    };

    // 1. activation at scale
    const component = (name: string) => cluster.state.components.find((c) => c.name === name)!.pid;
    const cpuPids = { operator: pid, 'kube-apiserver': component('kube-apiserver'), etcd: component('etcd') };
    const idle = { 'kube-apiserver': await idleCpuRate(cpuPids['kube-apiserver']), etcd: await idleCpuRate(cpuPids.etcd) };
    const requestsBefore = await apiRequestCounts(cluster.admin);
    const startRss = rssMiB(pid);
    let peak = startRss;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 250);
    const started = Date.now();
    const { result: activation, cpu } = await cpuDuringLessIdle(cpuPids, idle, async () => {
      await inBatches(Array.from({ length: grantsTotal }, (_, i) => `g-${i}`), 32, (name) => create(name, '2h', 'activation'));
      const createdMs = Date.now() - started;
      let bindings = 0;
      // on a machine busy with other work this may not finish: after 10 minutes, what was reached is reported
      while (bindings < grantsTotal && Date.now() - started < 600_000) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        // a one-item page carries the count of the rest (only without a selector: the target namespace holds
        // nothing but grant bindings); polling must not load the API server it measures
        const page = await rbac.listNamespacedRoleBinding({ namespace: target, limit: 1 });
        bindings = page.items.length + (page.metadata?.remainingItemCount ?? 0);
      }
      return { createdMs, bindings };
    });
    const { bindings } = activation;
    const bound = Date.now() - started;
    const list = (await custom.listNamespacedCustomObject({ group: 'kubegate.dev', version: 'v1alpha1', plural: 'accessgrants', namespace })) as { items: Array<{ status?: { phase?: string } }> };
    const active = list.items.filter((g) => g.status?.phase === 'Active').length;
    clearInterval(sampler);
    const boundText = bindings === grantsTotal ? `all ${bindings} bindings in place` : `ONLY ${bindings} bindings in place (gave up)`;
    console.log(`${grantsTotal} grants: created in ${(activation.createdMs / 1000).toFixed(1)} s; ${boundText} ${(bound / 1000).toFixed(1)} s after the first create; ${active} Active`);
    console.log(`operator resident memory: before ${startRss.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, after ${rssMiB(pid).toFixed(0)} MiB`);
    const perGrantMs = (seconds: number) => `${((seconds * 1000) / bindings).toFixed(1)} ms`;
    console.log(`CPU per bound grant (API server and etcd less their idle rate): ${Object.entries(cpu).map(([name, seconds]) => `${name} ${perGrantMs(seconds)}`).join(', ')}`);
    const requests = requestsBetween(requestsBefore, await apiRequestCounts(cluster.admin));
    const perGrant = (count: number) => (count / bindings).toFixed(2);
    console.log(`API requests per grant (all clients, the bench's creates and polls included): ${perGrant(requests.reduce((sum, [, n]) => sum + n, 0))}`);
    console.log(requests.slice(0, 16).map(([key, count]) => `  ${perGrant(count).padStart(6)}  ${key}`).join('\n'));
    console.log(`operator: ${await reconcileCounts(operator.healthUrl)}`);

    // 2. expiry lag, measured by a watch on the bindings
    const expiresAt = new Map<string, number>();
    const lags: number[] = [];
    // the runtime's informer: it re-watches across the API server's watch timeouts, which a bare watch does not
    const bindingsWatch = new Informer<k8s.V1RoleBinding>({
      client: new RawKubeClient(cluster.admin, new Agent({ keepAlive: true })),
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${target}/rolebindings`,
      labelSelector: 'kubegate.dev/grant',
      logger: pino({ level: 'warn' }),
    });
    bindingsWatch.addEventHandler({
      onDelete: (object) => {
        const grant = object.metadata?.annotations?.['kubegate.dev/grant-ref']?.split('/')[1];
        const expiry = grant && expiresAt.get(grant);
        if (expiry) lags.push(Date.now() - expiry);
      },
    });
    bindingsWatch.start();
    await bindingsWatch.waitForSync(AbortSignal.timeout(60_000));
    const expiring = Array.from({ length: expiringTotal }, (_, i) => `e-${i}`);
    await inBatches(expiring, 16, (name) => create(name, `${20 + (Number(name.slice(2)) % 20)}s`, 'expiry'));
    const deadline = Date.now() + 180_000;
    while (lags.length < expiringTotal && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const grants = (await custom.listNamespacedCustomObject({ group: 'kubegate.dev', version: 'v1alpha1', plural: 'accessgrants', namespace, labelSelector: `${phaseLabel}=expiry` })) as {
        items: Array<{ metadata: { name: string }; status?: { expiresAt?: string } }>;
      };
      for (const grant of grants.items) if (grant.status?.expiresAt && grant.metadata.name.startsWith('e-')) expiresAt.set(grant.metadata.name, Date.parse(grant.status.expiresAt));
    }
    await bindingsWatch.stop();
    console.log(
      `expiry lag over ${lags.length}/${expiringTotal} grants (binding deleted − status.expiresAt, with ${grantsTotal} other grants live): ` +
        `p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${Math.max(...lags)} ms`,
    );
    console.log(`operator: ${await reconcileCounts(operator.healthUrl)}`);
    await operator.stop();
    if (profileDir) console.log(`\nthe operator's CPU profile:\n${summarizeProfiles(profileDir)}`);
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
