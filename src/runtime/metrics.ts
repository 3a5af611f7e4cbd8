/**
 * The controller runtime's Prometheus metrics, under the names controller-runtime and client-go use, so
 * existing dashboards and alerts work unchanged. Each call makes its own metrics in a registry passed in or
 * created here: prom-client's global default registry is never touched, so two managers (or two tests) in
 * one process do not collide.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The `result` label of `controller_runtime_reconcile_total`. */
export type ReconcileResultLabel = 'success' | 'error' | 'requeue_after';

export interface RuntimeMetricsOptions {
  /** Where to register; default: a new registry of its own. */
  registry?: Registry;
}

export interface RuntimeMetrics {
  readonly registry: Registry;
  /** controller_runtime_reconcile_total{controller, result}: every reconcile, by outcome. */
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  /** controller_runtime_reconcile_errors_total{controller}: reconciles that threw, terminal or not. */
  readonly reconcileErrors: Counter<'controller'>;
  /** controller_runtime_terminal_reconcile_errors_total{controller}: reconciles that threw `TerminalError`. */
  readonly terminalReconcileErrors: Counter<'controller'>;
  /** controller_runtime_reconcile_time_seconds{controller}. */
  readonly reconcileTime: Histogram<'controller'>;
  /** workqueue_retries_total{name}: rate-limited re-adds. */
  readonly workqueueRetries: Counter<'name'>;
  /** Reports `depth()` as workqueue_depth{name} at every scrape. */
  trackQueueDepth(name: string, depth: () => number): void;
}

/** controller-runtime's buckets: fine below a second, where most reconciles land, coarse up to a minute. */
const reconcileTimeBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
  1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

export function createRuntimeMetrics(options: RuntimeMetricsOptions = {}): RuntimeMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const queueDepths = new Map<string, () => number>();
  new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'],
    registers,
    // read at scrape time, so the queue needs no hook on every add and get
    collect() {
      for (const [name, depth] of queueDepths) this.set({ name }, depth());
    },
  });
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    terminalReconcileErrors: new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: reconcileTimeBuckets,
      registers,
    }),
    workqueueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    trackQueueDepth(name, depth) {
      queueDepths.set(name, depth);
    },
  };
}
