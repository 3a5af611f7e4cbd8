/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's `tools/leaderelection`, so that of
 * several operator replicas exactly one runs the controllers.
 *
 * Rules:
 * - Acquire: the lease is free when it has no holder (released) or when its record has not changed for
 *   `leaseDurationMs`, measured on our own clock from when we first saw that record, never from the
 *   holder's `renewTime`, so clock skew between replicas cannot shorten a lease. Taking it over
 *   increments `leaseTransitions`. Candidates try every `retryPeriodMs`.
 * - Renew: the leader writes `renewTime` every `retryPeriodMs`. If it cannot renew within
 *   `renewDeadlineMs` of the last renewal, or sees another holder, it stops leading at once (aborts the
 *   leader signal, calls `onStoppedLeading`) and `run` returns. `renewDeadlineMs < leaseDurationMs`, so
 *   a leader cut off from the API server steps down before anyone else may take over.
 * - Every write is a replace carrying the resourceVersion that was read; a 409 Conflict means someone
 *   else wrote first, and the attempt is simply retried on the next period.
 * - Graceful stop (the `run` signal aborts while leading): leadership ends, then the lease is released
 *   (holder cleared) so a successor takes over at once instead of waiting out the lease. Callers that
 *   must finish their work before a successor starts stop that work first, then abort `run`.
 */
import { Agent } from 'node:https';
import { pino, type Logger } from 'pino';
import { KubeApiError, RawKubeClient, type KubeEndpoint } from '../kube/raw-client.js';
import { realClock, type Clock, sleep } from './reconciler.js';

export const leaderElectionDefaults = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
} as const;

/** A coordination.k8s.io/v1 Lease, as much of it as election reads and writes. */
interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  kubeconfig: KubeEndpoint;
  /** Where the Lease lives. */
  namespace: string;
  /** The Lease's name: one per group of replicas electing a leader. */
  name: string;
  /** This replica, unique among them (e.g. the pod name). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface LeaderCallbacks {
  /** Leadership began; `leaderSignal` aborts the moment it ends. Do not block: `run` keeps renewing. */
  onStartedLeading(leaderSignal: AbortSignal): void;
  /** Leadership ended (lost, or given up because `run` was stopped). Called once, after the abort. */
  onStoppedLeading(): void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly api: RawKubeClient;
  private readonly namespace: string;
  private readonly name: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** The last lease read or written, and when (our clock) its content last changed. */
  private observed: { lease: Lease; changedAt: number } | undefined;
  private leading = false;

  constructor(options: LeaderElectorOptions) {
    this.api = new RawKubeClient(options.kubeconfig, new Agent({ keepAlive: true }));
    this.identity = options.identity;
    this.namespace = options.namespace;
    this.name = options.name;
    this.leaseDurationMs = options.leaseDurationMs ?? leaderElectionDefaults.leaseDurationMs;
    this.renewDeadlineMs = options.renewDeadlineMs ?? leaderElectionDefaults.renewDeadlineMs;
    this.retryPeriodMs = options.retryPeriodMs ?? leaderElectionDefaults.retryPeriodMs;
    this.clock = options.clock ?? realClock;
    this.logger = (options.logger ?? pino({ enabled: false })).child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs && this.retryPeriodMs > 0)) {
      throw new Error('leader election needs leaseDurationMs > renewDeadlineMs > retryPeriodMs > 0');
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until this replica leads, leads until leadership is lost or `signal` aborts, then returns.
   * It returns once: a replica that lost the lease should exit, not campaign again with stale state.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    if (!(await this.acquire(signal))) return;
    const leadership = new AbortController();
    this.leading = true;
    this.logger.info('started leading');
    callbacks.onStartedLeading(leadership.signal);
    await this.renewUntilLost(signal);
    this.leading = false;
    leadership.abort();
    callbacks.onStoppedLeading();
    if (signal.aborted) await this.release();
  }

  /** True once the lease is ours; false when `signal` aborted first. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) return true;
      await sleep(this.clock, this.retryPeriodMs, signal);
    }
    return false;
  }

  /** Renews every retry period; returns when `signal` aborts or leadership is lost. */
  private async renewUntilLost(signal: AbortSignal): Promise<void> {
    let renewedAt = this.clock.now();
    for (;;) {
      const deadline = renewedAt + this.renewDeadlineMs;
      await sleep(this.clock, Math.min(this.retryPeriodMs, Math.max(0, deadline - this.clock.now())), signal);
      if (signal.aborted) return;
      const attemptAt = this.clock.now();
      if (attemptAt >= deadline) {
        this.logger.warn({ renewDeadlineMs: this.renewDeadlineMs }, 'could not renew the lease in time; stopped leading');
        return;
      }
      if (await this.within(deadline - attemptAt, this.tryAcquireOrRenew())) {
        renewedAt = attemptAt;
        continue;
      }
      const holder = this.observed?.lease.spec?.holderIdentity;
      if (holder !== this.identity) {
        this.logger.warn({ holder }, 'the lease was taken over; stopped leading');
        return;
      }
    }
  }

  /** One attempt to take or keep the lease; false on any failure (it is retried next period). */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    let lease: Lease;
    try {
      lease = await this.api.requestJson<Lease>('GET', this.leasePath());
    } catch (error) {
      if (!hasStatus(error, 404)) return this.failed(error, 'read');
      const created = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: this.namespace }, spec: this.holderSpec(now, now, 0) };
      return this.write(() => this.api.requestJson<Lease>('POST', this.leasePath(false), created), now);
    }
    this.observe(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    if (holder && holder !== this.identity && now < this.observed!.changedAt + this.leaseDurationMs) return false;
    const transitions = spec.leaseTransitions ?? 0;
    const renewed = holder === this.identity
      ? this.holderSpec(spec.acquireTime ?? now, now, transitions)
      : this.holderSpec(now, now, transitions + 1);
    return this.write(() => this.replace({ ...lease, spec: renewed }), now);
  }

  /** Clears the holder so a candidate takes over at once (client-go's release record). */
  private async release(): Promise<void> {
    const lease = this.observed?.lease;
    if (lease?.spec?.holderIdentity !== this.identity) return;
    const now = micro(this.clock.now());
    const released: LeaseSpec = { leaseTransitions: lease.spec.leaseTransitions, leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
    try {
      await this.replace({ ...lease, spec: released });
      this.logger.info('released the lease');
    } catch (error) {
      this.logger.warn({ err: error }, 'could not release the lease; a successor takes over once it expires');
    }
  }

  /** The Lease's path (`named`: false, of its collection); the names are ours, encoded all the same. */
  private leasePath(named = true): string {
    const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases`;
    return named ? `${collection}/${encodeURIComponent(this.name)}` : collection;
  }

  /** A replace carries the resourceVersion read: the API server refuses it (409) if someone wrote since. */
  private replace(lease: Lease): Promise<Lease> {
    return this.api.requestJson<Lease>('PUT', this.leasePath(), lease);
  }

  private holderSpec(acquiredAt: number | string, now: number, leaseTransitions: number): LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      // a time read back is the API server's MicroTime string: kept as it is
      acquireTime: typeof acquiredAt === 'number' ? micro(acquiredAt) : acquiredAt,
      renewTime: micro(now),
      leaseTransitions,
    };
  }

  private async write(request: () => Promise<Lease>, now: number): Promise<boolean> {
    try {
      this.observe(await request(), now);
      return true;
    } catch (error) {
      // 409: another candidate wrote since we read; the next period reads again
      return hasStatus(error, 409) ? false : this.failed(error, 'write');
    }
  }

  private observe(lease: Lease, now: number): void {
    if (this.observed?.lease.metadata?.resourceVersion !== lease.metadata?.resourceVersion) this.observed = { lease, changedAt: now };
  }

  private failed(error: unknown, operation: string): false {
    this.logger.warn({ err: error }, `could not ${operation} the lease`);
    return false;
  }

  /** `attempt`'s result, or false if it takes longer than `ms`: a hung request must not outlive the deadline. */
  private within(ms: number, attempt: Promise<boolean>): Promise<boolean> {
    let handle: unknown;
    const timeout = new Promise<boolean>((resolve) => (handle = this.clock.setTimeout(() => resolve(false), ms)));
    return Promise.race([attempt, timeout]).finally(() => this.clock.clearTimeout(handle));
  }
}

/** A MicroTime: serialized with microseconds (`2025-01-02T03:04:05.678000Z`), as the Lease API stores it. */
function micro(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

function hasStatus(error: unknown, code: number): boolean {
  return error instanceof KubeApiError && error.status === code;
}

