/**
 * The controller runtime against the real API server: informers that survive a cut connection and a
 * 410 Gone, a controller reconciling what an informer sees, Lease leader election with a partitioned
 * leader and with a graceful hand-over, and the manager's probes. Network failures are real: the
 * runtime talks to the API server through a TCP proxy that the test cuts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { testCluster, type TestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/workloads.js';
import { Controller } from '../../src/runtime/controller.js';
import { Agent } from 'node:https';
import { Informer } from '../../src/runtime/informer.js';
import { RawKubeClient, type KubeEndpoint } from '../../src/kube/raw-client.js';
import { LeaderElector } from '../../src/runtime/leader-election.js';
import { LeaderElectionLostError, Manager } from '../../src/runtime/manager.js';
import { createRuntimeMetrics } from '../../src/runtime/metrics.js';
import { keyString, type Reconciler } from '../../src/runtime/reconciler.js';

/** A TCP proxy to the API server that the test can cut (break open connections) or partition (refuse new ones). */
class TcpProxy {
  accepted = 0;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private readonly server: Server;

  private constructor(target: URL) {
    this.server = createServer((client) => {
      if (this.refusing) return void client.destroy();
      this.accepted += 1;
      const upstream = connect(Number(target.port), target.hostname);
      for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(socket);
        socket.on('error', () => other.destroy());
        socket.on('close', () => {
          this.sockets.delete(socket);
          other.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  static async start(server: string): Promise<TcpProxy> {
    const proxy = new TcpProxy(new URL(server));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Breaks every open connection, as a network failure or an API server restart would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Cuts and refuses new connections until `heal`. */
  partition(): void {
    this.refusing = true;
    this.cut();
  }

  heal(): void {
    this.refusing = false;
  }

  close(): Promise<void> {
    this.partition();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function kubeconfigThrough(cluster: TestCluster, proxy: TcpProxy): Promise<k8s.KubeConfig> {
  const config = new k8s.KubeConfig();
  config.loadFromFile(cluster.kubeconfigFile(undefined, proxy.url));
  return config;
}

/** A pino logger whose records land in `records`, to check what the runtime reported. */
function capturingLogger(records: Array<Record<string, unknown>>) {
  return pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
}

/** `initial`: an add the informer marked as its first list's (isInInitialList). */
type Event = { type: 'add' | 'update' | 'delete'; name: string; value?: string; initial?: boolean };

function recordEvents(informer: Informer<k8s.V1ConfigMap>): Event[] {
  const events: Event[] = [];
  const record = (type: Event['type']) => (object: k8s.V1ConfigMap) => events.push({ type, name: object.metadata!.name!, value: object.data?.value });
  informer.addEventHandler({
    onAdd: (object, initial) => events.push({ type: 'add', name: object.metadata!.name!, value: object.data?.value, initial }),
    onUpdate: record('update'),
    onDelete: record('delete'),
  });
  return events;
}

function configMap(name: string, value: string): k8s.V1ConfigMap {
  return { metadata: { name, labels: { suite: 'runtime' } }, data: { value } };
}

/** An informer's client over a client-node kubeconfig, as the operator's manager makes it. */
function informerClient(kubeconfig: KubeEndpoint): RawKubeClient {
  return new RawKubeClient(kubeconfig, new Agent({ keepAlive: true }));
}

test('an informer lists and watches ConfigMaps, and recovers from a cut connection and an outage', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('informer');
  const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedConfigMap({ namespace, body: configMap('before', '0') });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'unlabelled' } } });
  const proxy = await TcpProxy.start(cluster.state.apiserver.url);
  const informer = new Informer<k8s.V1ConfigMap>({
    client: informerClient(await kubeconfigThrough(cluster, proxy)),
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    labelSelector: 'suite=runtime',
    backoff: { initialMs: 100, maxMs: 400 },
  });
  const events = recordEvents(informer);
  try {
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(15_000));
    assert.deepEqual(events, [{ type: 'add', name: 'before', value: '0', initial: true }], 'the label selector leaves out the rest');
    assert.deepEqual(recordEvents(informer), [{ type: 'add', name: 'before', value: '0', initial: true }], 'a handler registered late gets the store as a first list');
    assert.equal(informer.get(`${namespace}/before`)?.kind, 'ConfigMap', 'list items get their kind');

    await core.createNamespacedConfigMap({ namespace, body: configMap('a', '1') });
    await core.replaceNamespacedConfigMap({ name: 'a', namespace, body: configMap('a', '2') });
    await core.deleteNamespacedConfigMap({ name: 'a', namespace });
    await eventually(async () =>
      assert.deepEqual(events.slice(1), [
        { type: 'add', name: 'a', value: '1', initial: false },
        { type: 'update', name: 'a', value: '2' },
        { type: 'delete', name: 'a', value: '2' },
      ]),
    );

    // a broken connection: the watch fails, the informer lists and watches again
    const connectionsBefore = proxy.accepted;
    proxy.cut();
    await core.createNamespacedConfigMap({ namespace, body: configMap('after-cut', '3') });
    await eventually(async () => assert.equal(informer.get(`${namespace}/after-cut`)?.data?.value, '3'));
    assert.ok(proxy.accepted > connectionsBefore, 'the informer reconnected');

    // an outage during which objects change: the relist tells the handlers what they missed
    await core.createNamespacedConfigMap({ namespace, body: configMap('doomed', '4') });
    await eventually(async () => assert.ok(informer.get(`${namespace}/doomed`)));
    proxy.partition();
    await core.deleteNamespacedConfigMap({ name: 'doomed', namespace });
    await core.replaceNamespacedConfigMap({ name: 'before', namespace, body: configMap('before', '5') });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // several failed relists, backing off
    assert.ok(informer.get(`${namespace}/doomed`), 'unseen while partitioned');
    proxy.heal();
    await eventually(async () => {
      assert.equal(informer.get(`${namespace}/doomed`), undefined);
      assert.equal(informer.get(`${namespace}/before`)?.data?.value, '5');
    });
    assert.ok(events.some((event) => event.type === 'delete' && event.name === 'doomed'));
    assert.ok(events.some((event) => event.type === 'update' && event.name === 'before' && event.value === '5'));
    assert.deepEqual(informer.list().map((object) => object.metadata?.name).sort(), ['after-cut', 'before']);
  } finally {
    await informer.stop();
    await proxy.close();
  }
});

test('an informer on a custom resource relists after the API server answers 410 Gone', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const kubectl = await cluster.kubectl();
  const group = `r${randomBytes(3).toString('hex')}.test.kubegate.dev`;
  const version = { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } };
  const names = { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' };
  const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `gadgets.${group}` }, spec: { group, scope: 'Namespaced', names, versions: [version] } };
  await kubectl.ok(['apply', '-f', '-'], { input: JSON.stringify(crd) });
  await kubectl.ok(['wait', '--for=condition=Established', `crd/gadgets.${group}`, '--timeout=30s']);
  const namespace = await cluster.namespace('gone');
  const gadget = (name: string) => JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name, namespace } });
  await kubectl.ok(['apply', '-f', '-'], { input: gadget('first') });

  const path = `/apis/${group}/v1/namespaces/${namespace}/gadgets`;
  let lists = 0;
  const logs: Array<Record<string, unknown>> = [];
  const client = informerClient(cluster.admin);
  const informer = new Informer<k8s.KubernetesObject>({
    client,
    path,
    backoff: { initialMs: 100, maxMs: 400 },
    logger: capturingLogger(logs),
    // the first complete list claims resourceVersion 1, older than this resource's watch cache: the
    // API server ends the watch with a real ERROR 410 Expired, and the informer must list again
    listFn: async (signal) => {
      const list = await client.list<k8s.KubernetesObject>(path, { signal });
      lists += 1;
      return lists === 1 ? { ...list, resourceVersion: '1' } : list;
    },
  });
  try {
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(15_000));
    await kubectl.ok(['apply', '-f', '-'], { input: gadget('second') });
    await eventually(async () => assert.ok(informer.get(`${namespace}/second`)));
    assert.ok(lists >= 2, `listed ${lists} times`);
    const gone = logs.find((record) => /410/.test(JSON.stringify(record.err ?? '')));
    assert.ok(gone, 'the 410 from the API server was logged');
    assert.match(JSON.stringify(gone.err), /too old resource version/);
    assert.deepEqual(informer.list().map((object) => [object.kind, object.metadata?.name]).sort(), [['Gadget', 'first'], ['Gadget', 'second']]);
  } finally {
    await informer.stop();
  }
});

test('a controller reconciles every ConfigMap its informer sees, and again on each change', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('controller');
  const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
  const kubectl = await cluster.kubectl();
  const seen = 'runtime.kubegate.dev/seen';
  for (const name of ['one', 'two', 'three']) await core.createNamespacedConfigMap({ namespace, body: configMap(name, `${name}-1`) });

  const informer = new Informer<k8s.V1ConfigMap>({ client: informerClient(cluster.admin), path: `/api/v1/namespaces/${namespace}/configmaps`, labelSelector: 'suite=runtime' });
  // level-based: copy data.value into an annotation, writing only when they differ; the informer's copy
  // may be stale, and the 409 that follows is a transient error the controller retries
  const reconciler: Reconciler = {
    async reconcile(key) {
      const current = informer.get(keyString(key));
      if (!current || current.metadata?.annotations?.[seen] === current.data?.value) return;
      const annotations = { ...current.metadata?.annotations, [seen]: current.data?.value ?? '' };
      await core.replaceNamespacedConfigMap({ name: key.name, namespace: key.namespace!, body: { ...current, metadata: { ...current.metadata, annotations } } });
    },
  };
  const metrics = createRuntimeMetrics();
  const controller = new Controller({ name: 'configmap-seen', reconciler, metrics });
  controller.watch(informer, (object) => [{ namespace: object.metadata?.namespace, name: object.metadata!.name! }]);
  const stop = new AbortController();
  informer.start();
  const running = controller.start(stop.signal);
  const annotation = async (name: string) =>
    (await kubectl.ok(['get', 'configmap', name, '-n', namespace, '-o', `jsonpath={.metadata.annotations.runtime\\.kubegate\\.dev/seen}`])).trim();
  try {
    await eventually(async () => {
      for (const name of ['one', 'two', 'three']) assert.equal(await annotation(name), `${name}-1`);
    });
    await kubectl.ok(['patch', 'configmap', 'two', '-n', namespace, '--type=merge', '-p', '{"data":{"value":"two-2"}}']);
    await kubectl.ok(['create', 'configmap', 'four', '-n', namespace, '--from-literal=value=four-1']);
    await kubectl.ok(['label', 'configmap', 'four', '-n', namespace, 'suite=runtime']);
    await eventually(async () => {
      assert.equal(await annotation('two'), 'two-2');
      assert.equal(await annotation('four'), 'four-1');
    });
    const metricsText = await metrics.registry.metrics();
    assert.match(metricsText, /controller_runtime_reconcile_total\{controller="configmap-seen",result="success"\} [1-9]/);
    assert.match(metricsText, /workqueue_depth\{name="configmap-seen"\} 0/);
  } finally {
    stop.abort();
    await running;
    await informer.stop();
  }
});

/** Records when each elector started and stopped leading, on one timeline. */
function campaign(elector: LeaderElector, signal: AbortSignal) {
  const record = { startedAt: undefined as number | undefined, stoppedAt: undefined as number | undefined, leaderSignal: undefined as AbortSignal | undefined };
  const done = elector.run(signal, {
    onStartedLeading: (leaderSignal) => Object.assign(record, { startedAt: Date.now(), leaderSignal }),
    onStoppedLeading: () => (record.stoppedAt = Date.now()),
  });
  return Object.assign(record, { done });
}

async function leaseSpec(cluster: TestCluster, namespace: string, name: string): Promise<k8s.V1LeaseSpec> {
  const lease = await cluster.admin.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name, namespace });
  return lease.spec ?? {};
}

test('leader election: one leader; a partitioned leader steps down and the other takes over within the lease duration', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('lease');
  const proxy = await TcpProxy.start(cluster.state.apiserver.url);
  const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
  const alpha = new LeaderElector({ kubeconfig: await kubeconfigThrough(cluster, proxy), namespace, name: 'runtime-test', identity: 'alpha', ...timing });
  const beta = new LeaderElector({ kubeconfig: cluster.admin, namespace, name: 'runtime-test', identity: 'beta', ...timing });
  const stop = new AbortController();
  try {
    const a = campaign(alpha, stop.signal);
    await eventually(async () => assert.ok(alpha.isLeader()));
    const b = campaign(beta, stop.signal);
    // beta keeps seeing alpha renew, so it never leads while alpha is alive
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.deepEqual([alpha.isLeader(), beta.isLeader()], [true, false]);
    }
    const held = await leaseSpec(cluster, namespace, 'runtime-test');
    assert.equal(held.holderIdentity, 'alpha');
    assert.equal(held.leaseTransitions, 0);
    assert.match(String(held.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'renewTime is a MicroTime');

    // alpha loses the API server: it cannot renew, so it must step down before beta may take over
    const partitionedAt = Date.now();
    proxy.partition();
    await a.done;
    assert.ok(a.stoppedAt! - partitionedAt <= timing.renewDeadlineMs + 200, `alpha stepped down after ${a.stoppedAt! - partitionedAt} ms`);
    assert.equal(a.leaderSignal?.aborted, true);
    await eventually(async () => assert.ok(beta.isLeader()), 10_000);
    const takeover = b.startedAt! - partitionedAt;
    assert.ok(takeover <= timing.leaseDurationMs + 1000, `beta took over after ${takeover} ms`);
    assert.ok(takeover >= timing.leaseDurationMs - timing.retryPeriodMs, `beta waited out the lease (${takeover} ms)`);
    assert.ok(a.stoppedAt! < b.startedAt!, 'never two leaders');
    const taken = await leaseSpec(cluster, namespace, 'runtime-test');
    assert.equal(taken.holderIdentity, 'beta');
    assert.equal(taken.leaseTransitions, 1);
  } finally {
    stop.abort();
    await proxy.close();
  }
});

test('leader election: a gracefully stopped leader releases the lease and the successor takes over at once', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('release');
  // a long lease: a takeover well under it can only come from the release
  const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 500 };
  const first = new LeaderElector({ kubeconfig: cluster.admin, namespace, name: 'runtime-test', identity: 'first', ...timing });
  const second = new LeaderElector({ kubeconfig: cluster.admin, namespace, name: 'runtime-test', identity: 'second', ...timing });
  const stopFirst = new AbortController();
  const stopSecond = new AbortController();
  try {
    const a = campaign(first, stopFirst.signal);
    await eventually(async () => assert.ok(first.isLeader()));
    const b = campaign(second, stopSecond.signal);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(second.isLeader(), false);

    const stoppedAt = Date.now();
    stopFirst.abort();
    await a.done;
    assert.ok(a.stoppedAt !== undefined && a.leaderSignal?.aborted, 'leadership ended before the release');
    await eventually(async () => assert.ok(second.isLeader()), 5000);
    const takeover = b.startedAt! - stoppedAt;
    assert.ok(takeover < 2000, `took over ${takeover} ms after the release (lease ${timing.leaseDurationMs} ms)`);
    const spec = await leaseSpec(cluster, namespace, 'runtime-test');
    assert.equal(spec.holderIdentity, 'second');
    assert.equal(spec.leaseTransitions, 1);
  } finally {
    stopFirst.abort();
    stopSecond.abort();
  }
});

test('the manager serves probes and metrics, runs controllers only while leading, and releases the lease on stop', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('manager');
  const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedConfigMap({ namespace, body: configMap('x', '1') });
  const reconciled: string[] = [];
  const manager = new Manager({
    kubeconfig: cluster.admin,
    healthPort: 0,
    healthHost: '127.0.0.1',
    logger: pino({ enabled: false }),
    leaderElection: { namespace, name: 'runtime-manager', identity: 'only', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
  });
  const informer = manager.addInformer<k8s.V1ConfigMap>({ path: `/api/v1/namespaces/${namespace}/configmaps`, labelSelector: 'suite=runtime' });
  const controller = manager.addController({ name: 'manager-test', reconciler: { reconcile: async (key) => void reconciled.push(keyString(key)) } });
  controller.watch(informer, (object) => [{ namespace: object.metadata?.namespace, name: object.metadata!.name! }]);
  let leaderTaskSignal: AbortSignal | undefined;
  manager.onLeading((signal) => void (leaderTaskSignal = signal));
  const stop = new AbortController();
  const running = manager.start(stop.signal);
  const probe = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${manager.healthPort()}${path}`);
    return { status: response.status, body: await response.text() };
  };
  try {
    await eventually(async () => assert.deepEqual(reconciled, [`${namespace}/x`]));
    assert.equal(leaderTaskSignal?.aborted, false);
    assert.equal((await probe('/healthz')).status, 200);
    const ready = await probe('/readyz');
    assert.equal(ready.status, 200, ready.body);
    assert.match(ready.body, /\[\+\]informers ok\n\[\+\]leader-election ok/);
    assert.match((await probe('/metrics')).body, /controller_runtime_reconcile_total\{controller="manager-test",result="success"\} 1/);
    assert.equal((await leaseSpec(cluster, namespace, 'runtime-manager')).holderIdentity, 'only');
  } finally {
    stop.abort();
    await running;
  }
  assert.equal(leaderTaskSignal?.aborted, true);
  assert.equal((await leaseSpec(cluster, namespace, 'runtime-manager')).holderIdentity, undefined, 'released on stop');
  await assert.rejects(probe('/healthz'), 'the health server is closed');
});

test('the manager stops leader work and rejects when it loses the lease, so the process restarts', { timeout: 60_000 }, async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('lost');
  const proxy = await TcpProxy.start(cluster.state.apiserver.url);
  const manager = new Manager({
    kubeconfig: await kubeconfigThrough(cluster, proxy),
    healthPort: 0,
    logger: pino({ enabled: false }),
    leaderElection: { namespace, name: 'runtime-lost', identity: 'doomed', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
  });
  let leaderTaskSignal: AbortSignal | undefined;
  manager.onLeading((signal) => void (leaderTaskSignal = signal));
  const stop = new AbortController();
  const running = manager.start(stop.signal);
  try {
    await eventually(async () => assert.equal(leaderTaskSignal?.aborted, false));
    proxy.partition();
    await assert.rejects(running, LeaderElectionLostError);
    assert.equal(leaderTaskSignal?.aborted, true);
  } finally {
    stop.abort();
    await running.catch(() => undefined);
    await proxy.close();
  }
});
