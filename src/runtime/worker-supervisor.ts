/**
 * A supervisor of N worker processes (the primary of `kubegate gateway`): it forks them, and when one
 * dies — a crash, the OOM killer, SIGKILL — it logs why and forks a replacement with the same index
 * (which recovers what the dead one left behind, e.g. its spool), leaving the others and what they serve
 * alone. Workers that die in a loop are replaced after a growing wait instead of at once. `stop` asks
 * every worker to drain (SIGTERM) and resolves once all have exited.
 */
import type { Logger } from 'pino';
import { realClock, type Clock } from './reconciler.js';

/** A forked worker, as the supervisor needs it (node:cluster's Worker fits through `clusterWorker`). */
export interface WorkerProcess {
  readonly pid: number | undefined;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(signal: NodeJS.Signals): void;
}

export interface WorkerSupervisorOptions {
  workers: number;
  fork(index: number): WorkerProcess;
  logger: Logger;
  /** Default: real time. */
  clock?: Clock;
}

/** Deaths within this window count toward a crash loop… */
export const crashWindowMs = 10_000;
/** …and from this many on, a replacement waits (1 s, doubling per further death, at most `maxRespawnDelayMs`). */
export const crashLoopDeaths = 5;
export const maxRespawnDelayMs = 30_000;

/** How long to wait before replacing a worker, given when workers died (the latest included). */
export function respawnDelay(deaths: readonly number[], now: number): number {
  const recent = deaths.filter((at) => now - at < crashWindowMs).length;
  return recent < crashLoopDeaths ? 0 : Math.min(maxRespawnDelayMs, 1000 * 2 ** (recent - crashLoopDeaths));
}

export class WorkerSupervisor {
  private readonly clock: Clock;
  private readonly running = new Map<number, WorkerProcess>();
  private readonly respawns = new Map<number, unknown>();
  private deaths: number[] = [];
  /** Set once stopping: resolves when every worker has exited. */
  private stopped?: Promise<void>;
  private allExited?: () => void;

  constructor(private readonly options: WorkerSupervisorOptions) {
    this.clock = options.clock ?? realClock;
  }

  start(): void {
    for (let index = 0; index < this.options.workers; index++) this.fork(index);
  }

  /** The live workers' pids by index. */
  pids(): Map<number, number | undefined> {
    return new Map([...this.running].map(([index, worker]) => [index, worker.pid]));
  }

  /** Drains every worker (each runs its own graceful stop on SIGTERM); resolves once all have exited (the same promise however often it is called). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.stopped) return this.stopped;
    for (const timer of this.respawns.values()) this.clock.clearTimeout(timer);
    this.respawns.clear();
    this.stopped = new Promise<void>((resolve) => (this.allExited = resolve));
    for (const worker of this.running.values()) worker.kill(signal);
    this.settleStop();
    return this.stopped;
  }

  private fork(index: number): void {
    this.respawns.delete(index);
    const worker = this.options.fork(index);
    this.running.set(index, worker);
    this.options.logger.info({ worker: index, workerPid: worker.pid }, 'worker started');
    worker.onExit((code, signal) => this.exited(index, worker, code, signal));
  }

  private exited(index: number, worker: WorkerProcess, code: number | null, signal: string | null): void {
    if (this.running.get(index) === worker) this.running.delete(index);
    if (this.stopped) {
      this.options.logger.info({ worker: index, workerPid: worker.pid, code, signal }, 'worker stopped');
      this.settleStop();
      return;
    }
    const now = this.clock.now();
    this.deaths = [...this.deaths.filter((at) => now - at < crashWindowMs), now];
    const delayMs = respawnDelay(this.deaths, now);
    this.options.logger.error({ worker: index, workerPid: worker.pid, code, signal, respawnInMs: delayMs }, 'worker died; replacing it');
    if (delayMs === 0) this.fork(index);
    else this.respawns.set(index, this.clock.setTimeout(() => this.fork(index), delayMs));
  }

  private settleStop(): void {
    if (this.running.size === 0) this.allExited?.();
  }
}
