/**
 * The operator's manager, after controller-runtime's: it owns the informers, the controllers, the optional
 * leader election and the health server, and runs them in order.
 *
 * `start(signal)`:
 * 1. serves `/healthz`, `/readyz`, `/metrics`;
 * 2. starts every informer and waits until all have listed (controllers must not act on a partial view);
 * 3. without leader election, runs the controllers; with it, campaigns for the lease and runs the
 *    controllers only while leading. Readiness never depends on leading: a standby replica is ready.
 *
 * Shutdown on `signal`: controllers stop taking keys and finish what they are reconciling; only then is the
 * lease released (so no successor runs while a reconcile of ours is in flight); then informers stop and the
 * health server closes. `start` resolves.
 *
 * Lost leadership (the lease could not be renewed, or was taken over): the controllers stop and `start`
 * rejects with `LeaderElectionLostError`, so that the process exits and is restarted with fresh state,
 * as controller-runtime does.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { Agent } from 'node:https';
import type { Logger } from 'pino';
import { RawKubeClient, type KubeEndpoint } from '../kube/raw-client.js';
import { Controller, type ControllerOptions } from './controller.js';
import { HealthServer } from './health.js';
import { Informer, type InformerOptions } from './informer.js';
import { LeaderElector, type LeaderElectorOptions } from './leader-election.js';
import { createRuntimeMetrics, type RuntimeMetrics } from './metrics.js';
import { realClock, type Clock } from './reconciler.js';

export interface ManagerOptions {
  kubeconfig: KubeEndpoint;
  /** Run controllers only on the replica holding this Lease; unset: always run them. */
  leaderElection?: Omit<LeaderElectorOptions, 'kubeconfig' | 'clock' | 'logger'>;
  /** Port of `/healthz`, `/readyz`, `/metrics`; 0 picks a free one (see `healthPort()`). */
  healthPort: number;
  healthHost?: string;
  logger: Logger;
  /** Default: a new registry of the manager's own. */
  metrics?: RuntimeMetrics;
  clock?: Clock;
}

/** Work that runs only on the leader, until `leaderSignal` aborts. */
export type LeaderTask = (leaderSignal: AbortSignal) => void | Promise<void>;

export class LeaderElectionLostError extends Error {
  override name = 'LeaderElectionLostError';
}

export class Manager {
  readonly metrics: RuntimeMetrics;
  private readonly options: ManagerOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly informers: Array<Pick<Informer, 'path' | 'start' | 'stop' | 'hasSynced' | 'waitForSync'>> = [];
  private readonly controllers: Controller[] = [];
  private readonly leaderTasks: LeaderTask[] = [];
  private readonly health: HealthServer;
  private informerClient?: RawKubeClient;
  private electing = false;
  private started = false;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.logger = options.logger;
    this.metrics = options.metrics ?? createRuntimeMetrics();
    this.health = new HealthServer({
      port: options.healthPort,
      host: options.healthHost,
      registry: this.metrics.registry,
      checks: {
        informers: () => this.informers.every((informer) => informer.hasSynced()),
        ...(options.leaderElection ? { 'leader-election': () => this.electing } : {}),
      },
    });
  }

  /** An informer on the manager's kubeconfig, clock and logger, started and stopped by `start`. */
  addInformer<T extends KubernetesObject>(options: Omit<InformerOptions<T>, 'client' | 'clock' | 'logger'>): Informer<T> {
    // one kept-alive connection per informer's watch, and one for its lists
    this.informerClient ??= new RawKubeClient(this.options.kubeconfig, new Agent({ keepAlive: true }));
    const informer = new Informer<T>({ ...options, client: this.informerClient, clock: this.clock, logger: this.logger });
    this.informers.push(informer);
    return informer;
  }

  /** A controller counted in the manager's metrics, run by `start` (only while leading, with leader election). */
  addController(options: Omit<ControllerOptions, 'clock' | 'logger' | 'metrics'>): Controller {
    const controller = new Controller({ ...options, clock: this.clock, logger: this.logger, metrics: this.metrics });
    this.controllers.push(controller);
    return controller;
  }

  /**
   * Runs `task` whenever the controllers start (on becoming leader, or after sync without leader election),
   * for work only the leader may do besides reconciling (periodic sweeps, key rotation). `leaderSignal`
   * aborts when leadership ends or the manager stops; the task cleans up then. A task that fails is
   * logged, not retried: it must not cost the replica its leadership.
   */
  onLeading(task: LeaderTask): void {
    this.leaderTasks.push(task);
  }

  /** The health server's port, once `start` has begun. */
  healthPort(): number {
    return this.health.port();
  }

  /** Runs everything until `signal` aborts; rejects with `LeaderElectionLostError` if leadership is lost. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error('the manager was already started');
    this.started = true;
    await this.health.start();
    this.logger.info({ port: this.health.port() }, 'serving /healthz, /readyz and /metrics');
    try {
      for (const informer of this.informers) informer.start();
      const synced = await Promise.all(this.informers.map((informer) => informer.waitForSync(signal))).then(() => true, () => false);
      if (!synced) return;
      this.logger.info({ informers: this.informers.map((informer) => informer.path) }, 'informers synced');
      if (this.options.leaderElection) await this.runWhileLeading(signal, this.options.leaderElection);
      else await this.lead(signal);
    } finally {
      await Promise.all(this.informers.map((informer) => informer.stop()));
      this.informerClient?.close();
      await this.health.close();
      this.logger.info('manager stopped');
    }
  }

  /** What runs while this replica leads (always, without leader election): leader tasks and controllers. */
  private async lead(signal: AbortSignal): Promise<void> {
    for (const task of this.leaderTasks) {
      Promise.resolve()
        .then(() => task(signal))
        .catch((error: unknown) => this.logger.error({ err: error }, 'leader task failed'));
    }
    await Promise.all(this.controllers.map((controller) => controller.start(signal)));
  }

  private async runWhileLeading(signal: AbortSignal, election: NonNullable<ManagerOptions['leaderElection']>): Promise<void> {
    const elector = new LeaderElector({ ...election, kubeconfig: this.options.kubeconfig, clock: this.clock, logger: this.logger });
    // the election gets a signal of its own, aborted only once the controllers have drained: the lease
    // stays ours (and renewed) until no reconcile of ours can still be running
    const stopElection = new AbortController();
    let controllersDone: Promise<void> = Promise.resolve();
    this.electing = true;
    const campaign = elector.run(stopElection.signal, {
      onStartedLeading: (leaderSignal) => {
        controllersDone = this.lead(AbortSignal.any([signal, leaderSignal]));
      },
      onStoppedLeading: () => this.logger.info('stopping controllers: no longer leading'),
    });
    try {
      await Promise.race([campaign, abortion(signal)]);
      await controllersDone;
      if (!signal.aborted) throw new LeaderElectionLostError(`lost the lease ${election.namespace}/${election.name}`);
      stopElection.abort();
      await campaign;
    } finally {
      this.electing = false;
    }
  }
}

/** Resolves when `signal` aborts. */
function abortion(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
