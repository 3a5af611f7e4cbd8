/**
 * A mutation fuzzer (fast-check drives the mutations) for the code that reads untrusted bytes: the
 * WebSocket, SPDY and zlib decoders, the request path parser and the masker. Seeds are real kubectl
 * traffic captured through the gateway (test/fixtures/streams/, written by
 * test/integration/stream-differential.test.ts) and typical bodies and paths; each execution applies
 * up to eight mutations (bit flips, interesting bytes, inserts, deletes, repeats, truncation, splices
 * of another seed) and feeds the result cut into random chunks. Any exception other than the declared
 * ones (ProtocolError, GatewayError, MaskingError) is a crash; a target that reports no progress for
 * 10 s is a hang. Each target runs in a worker thread for the time budget.
 *
 *   node dist/bench/fuzz-streams.js [seconds-per-target=60] [target...]   (targets: websocket spdy zlib path masker)
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { fuzzTargets, type FuzzInput } from './fuzz-targets.js';

interface Crash {
  key: string;
  error: string;
  input: string;
}

type Report = { type: 'progress'; executions: number } | { type: 'done'; executions: number; refused: number; crashes: Crash[] };

const hangAfterMs = 10_000;
const fuzzSeed = 0x5eed;

const mutation = fc.record({
  kind: fc.constantFrom('flip', 'byte', 'insert', 'delete', 'repeat', 'truncate', 'splice'),
  side: fc.boolean(),
  at: fc.nat(),
  value: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x7e, 0x0f, 0x30, 0x0a), fc.nat(255)),
  length: fc.nat(64),
  bytes: fc.uint8Array({ maxLength: 24 }),
  other: fc.nat(),
});

const input: fc.Arbitrary<FuzzInput> = fc.record({ seed: fc.nat(), mutations: fc.array(mutation, { maxLength: 8 }), cuts: fc.array(fc.nat(), { maxLength: 12 }), variant: fc.nat() });

/** The worker: runs one target for its budget, reporting progress so the parent can spot a hang. */
function fuzzInWorker(name: string, seconds: number): void {
  const target = fuzzTargets[name];
  if (!target) throw new Error(`unknown target ${name}`);
  const crashes = new Map<string, Crash>();
  let executions = 0;
  /** Executions that ended in a declared error: the rest ran through. */
  let refused = 0;
  const property = fc.property(input, (generated) => {
    executions++;
    if (executions % 500 === 0) parentPort!.postMessage({ type: 'progress', executions } satisfies Report);
    try {
      target.run(generated);
    } catch (error) {
      if (target.declared.some((type) => error instanceof type)) {
        refused++;
        return true;
      }
      const text = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack?.split('\n').slice(1, 3).join('\n')}` : String(error);
      const key = text.replace(/\d+/g, 'N');
      if (!crashes.has(key)) crashes.set(key, { key, error: text, input: JSON.stringify(generated).slice(0, 2000) });
    }
    return true;
  });
  fc.check(property, { numRuns: Number.MAX_SAFE_INTEGER, seed: fuzzSeed, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false, endOnFailure: true });
  parentPort!.postMessage({ type: 'done', executions, refused, crashes: [...crashes.values()] } satisfies Report);
}

/** The parent: one worker per target, terminated (and counted as a hang) when it stops reporting. */
interface TargetResult {
  target: string;
  executions: number;
  refused: number;
  crashes: Crash[];
  hang: boolean;
}

function runTarget(name: string, seconds: number): Promise<TargetResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { name, seconds } });
    let executions = 0;
    let watchdog: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        void worker.terminate();
        resolve({ target: name, executions, refused: 0, crashes: [], hang: true });
      }, hangAfterMs);
    };
    arm();
    worker.on('message', (report: Report) => {
      executions = report.executions;
      arm();
      if (report.type !== 'done') return;
      clearTimeout(watchdog);
      resolve({ target: name, executions, refused: report.refused, crashes: report.crashes, hang: false });
    });
    worker.on('error', (error) => (clearTimeout(watchdog), reject(error)));
  });
}

async function main(): Promise<number> {
  const seconds = Number(process.argv[2] ?? 60);
  const names = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(fuzzTargets);
  const results = [];
  for (const name of names) {
    const result = await runTarget(name, seconds);
    results.push(result);
    process.stdout.write(`${name}: ${result.executions} executions in ${seconds} s (${result.refused} ended in a declared error), ${result.crashes.length} crashes${result.hang ? ', HUNG' : ''}\n`);
    for (const crash of result.crashes) process.stdout.write(`  crash: ${crash.error}\n  input: ${crash.input}\n`);
  }
  process.stdout.write(`${JSON.stringify({ seconds, seed: fuzzSeed, results: results.map(({ target, executions, refused, crashes, hang }) => ({ target, executions, refused, crashes: crashes.length, hang })) })}\n`);
  return results.some((result) => result.crashes.length > 0 || result.hang) ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
} else {
  const { name, seconds } = workerData as { name: string; seconds: number };
  fuzzInWorker(name, seconds);
}
