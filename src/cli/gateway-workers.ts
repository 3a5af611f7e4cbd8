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
import type { ServingTls } from '../gateway/serving-tls.js';
import type { BuiltGateway } from './gateway-build.js';
import { CliError } from './output.js';

const workerIndexVariable = 'KUBEGATE_WORKER_INDEX';
/** What a worker sends the primary once it serves. */
const readyMessage = 'kubegate-worker-ready';
/** What a worker asks the primary for before it serves, and the kind of the answer: its serving certificate. */
const servingTlsRequest = 'kubegate-worker-serving-tls';
const servingTlsAnswer = 'kubegate-serving-tls';
interface ServingTlsAnswer {
  kind: typeof servingTlsAnswer;
  tls?: ServingTls;
  error?: string;
}
/**
 * Node options of every worker (unless the primary's own options or NODE_OPTIONS set them: those win):
 * --expose-gc, for the collection after start-up (`releaseStartUpHeap`). Not a smaller young generation
 * (--max-semi-space-size): the collection shrinks it at idle as well, and the CPU a request would cost
 * in more scavenges could not be measured on this machine (README, Benchmarks).
 */
export const workerNodeOptions = ['--expose-gc'];

/** The options a worker runs with: `workerNodeOptions` not set otherwise, then the primary's own. */
export function workerExecArgv(primaryExecArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...primaryExecArgv, ...nodeOptions.split(/\s+/)].map((option) => option.split('=')[0]);
  return [...workerNodeOptions.filter((option) => !given.includes(option.split('=')[0])), ...primaryExecArgv];
}

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
 * The primary's side of a worker's serving certificate: `issue` answers each request (a certificate issued
 * for that worker as it starts, as the worker used to issue its own, or the mounted one read again).
 */
function answerServingTls(worker: Worker, issue: () => Promise<ServingTls>): void {
  worker.on('message', (message: unknown) => {
    if (message !== servingTlsRequest) return;
    void issue()
      .then(
        (tls): ServingTlsAnswer => ({ kind: servingTlsAnswer, tls }),
        (error: unknown): ServingTlsAnswer => ({ kind: servingTlsAnswer, error: error instanceof Error ? error.message : String(error) }),
      )
      .then((answer) => worker.isConnected() && worker.send(answer));
  });
}

/**
 * A worker's serving certificate, from the primary: issuing one takes @peculiar/x509, ~12 MiB in every
 * process that loads it, and the primary has it loaded already for its live events endpoint.
 */
export function servingTlsFromPrimary(): Promise<ServingTls> {
  return new Promise((resolve, reject) => {
    const listener = (message: unknown) => {
      const answer = message as Partial<ServingTlsAnswer> | null;
      if (answer?.kind !== servingTlsAnswer) return;
      process.off('message', listener);
      if (answer.tls) resolve(answer.tls);
      else reject(new Error(answer.error ?? 'the primary sent no serving certificate'));
    };
    process.on('message', listener);
    process.send!(servingTlsRequest);
  });
}

/**
 * The primary: forks the workers (each linked to the live feed, each given its serving certificate by
 * `servingTls`), resolves once the first generation
 * serves (a worker that exits before any served is a start-up failure: the others stop and the command
 * fails), then supervises until SIGTERM or SIGINT, when every worker drains.
 */
export async function superviseGateway(workers: number, live: Pick<LiveFeed, 'forked'>, servingTls: () => Promise<ServingTls>): Promise<void> {
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
      answerServingTls(forked, servingTls);
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
  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
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
  releaseStartUpHeap();
}

/**
 * Returns the heap that start-up grew (modules loaded and compiled, the policy read, the recorder's
 * recovery) to the system: one full garbage collection that also shrinks the young generation, as V8
 * does under memory pressure. Without it a worker idles at what start-up peaked at, as nothing allocates
 * enough to trigger a collection. `gc` is there by --expose-gc (`workerNodeOptions`).
 */
function releaseStartUpHeap(): void {
  const gc = (globalThis as { gc?: (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void }).gc;
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
