/**
 * `kubegate gateway` as a supervised set of processes (node:cluster). The process started is the
 * primary: it owns no session, forks `--workers` workers that each run the whole gateway on the same
 * ports (the primary accepts and hands connections round-robin, node:cluster's default on Linux), and
 * replaces a worker that dies without touching the others (runtime/worker-supervisor.ts). Each worker
 * spools to `<spool-dir>/worker-<n>`; its replacement takes the same n, so crash recovery on its start
 * uploads what the dead one left. A worker's sessions run in error boundaries (gateway/guarded.ts); an
 * exception that still reaches the process makes the worker stop accepting, drain, and exit non-zero —
 * Node does not promise a process can go on after an uncaughtException — and the primary replaces it.
 */
import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import { WorkerSupervisor, type WorkerProcess } from '../runtime/worker-supervisor.js';
import type { LiveFeed } from '../gateway/live/primary.js';
import type { BuiltGateway } from './gateway-build.js';
import { CliError } from './output.js';

const workerIndexVariable = 'KUBEGATE_WORKER_INDEX';
/** What a worker sends the primary once it serves. */
const readyMessage = 'kubegate-worker-ready';
/** How long a draining worker (signalled, or after an uncaughtException) may take before it exits anyway. */
const maxDrainMs = 35_000;

/** This process's worker index, or undefined in the primary. */
export function workerIndex(): number | undefined {
  return cluster.isPrimary ? undefined : Number(process.env[workerIndexVariable]);
}

export function parseWorkers(value: string): number {
  const workers = Number(value);
  if (!Number.isSafeInteger(workers) || workers < 1) throw new CliError(`--workers must be a whole number from 1, got "${value}"`);
  return workers;
}

function clusterWorker(worker: Worker): WorkerProcess & { ready: Promise<void> } {
  return {
    pid: worker.process.pid,
    onExit: (listener) => void worker.on('exit', (code, signal) => listener(code, signal)),
    kill: (signal) => void worker.process.kill(signal),
    ready: new Promise((resolve) => worker.on('message', (message) => message === readyMessage && resolve())),
  };
}

/**
 * The primary: forks the workers (each linked to the live feed), resolves once the first generation
 * serves (a worker that exits before any served is a start-up failure: the others stop and the command
 * fails), then supervises until SIGTERM or SIGINT, when every worker drains.
 */
export async function superviseGateway(workers: number, live: Pick<LiveFeed, 'forked'>): Promise<void> {
  const logger = pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' }).child({ role: 'primary' });
  const starting: Promise<void>[] = [];
  let failedToStart: ((error: Error) => void) | undefined;
  const startFailure = new Promise<never>((_resolve, reject) => (failedToStart = reject));
  const supervisor = new WorkerSupervisor({
    workers,
    logger,
    fork: (index) => {
      const forked = cluster.fork({ [workerIndexVariable]: String(index) });
      const worker = clusterWorker(forked);
      live.forked(index, forked, worker.ready);
      void worker.ready.then(() => logger.info({ worker: index, workerPid: worker.pid }, 'worker serving'));
      if (failedToStart) {
        starting.push(worker.ready);
        worker.onExit((code) => {
          if (!failedToStart) return;
          failedToStart(new CliError(`gateway worker ${index} exited (code ${code}) before it served; its error is above`));
          void supervisor.stop(); // before the supervisor hears of the exit: no replacement
        });
      }
      return worker;
    },
  });
  // the listening sockets live in the workers: while none is alive (a crash loop's wait) this keeps the primary up
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    supervisor.start();
    await Promise.race([Promise.all(starting), startFailure]);
  } catch (error) {
    await supervisor.stop();
    clearInterval(keepAlive);
    throw error;
  }
  failedToStart = undefined;
  logger.info({ workers, workerPids: [...supervisor.pids().values()] }, 'gateway workers serving');
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.once(signal, () => {
        logger.info({ signal }, 'draining every worker');
        resolve();
      });
  });
  await supervisor.stop();
  clearInterval(keepAlive);
}

/**
 * A worker: builds and starts the gateway, tells the primary it serves, and drains on SIGTERM/SIGINT
 * (once, however many arrive) or after an uncaughtException — then exits, 0 or 1.
 */
export async function serveAsWorker(build: () => Promise<BuiltGateway>): Promise<void> {
  let built: BuiltGateway;
  try {
    built = await build();
    await built.gateway.start();
  } catch (error) {
    process.stderr.write(`kubegate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const { logger, stop } = built;
  let draining = false;
  const drain = (code: number) => {
    if (draining) return;
    draining = true;
    setTimeout(() => process.exit(code), maxDrainMs).unref();
    void stop()
      .catch((error: unknown) => logger.error({ err: error }, 'drain failed'))
      .finally(() => process.exit(code));
  };
  process.on('uncaughtException', (error: Error) => {
    logger.fatal({ err: error }, 'uncaught exception: this worker stops accepting, drains its other sessions and exits for the primary to replace it');
    drain(1);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => {
      logger.info({ signal }, 'draining');
      drain(0);
    });
  process.send?.(readyMessage);
}
