/**
 * `kubegate history` at scale: 10,000 sessions written by the real StoreRecorder into a `file://` store
 * (bench/sample-store.ts), then the history of one object, which 1 session in 100 touched:
 *  - in process (`objectHistory`, what the CLI runs): p50 and p99 over 100 queries;
 *  - the CLI (`bin/kubegate history pods/api-7 -n ns-7`, node's start included) over 5 runs, beside
 *    `bin/kubegate --help` (the CLI's start alone) over 5: the difference is what history costs.
 * Run: npx tsc -p . && node_modules/.bin/node dist/bench/history.js [sessions=10000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectHistory, objectRef } from '../src/audit/history.js';
import { FileStore } from '../src/recording/file-store.js';
import { packageRoot } from '../src/util/package-root.js';
import { days, recordSampleStore, start } from './sample-store.js';

const sessions = Number(process.argv[2] ?? 10_000);

/** Wall times of 5 runs of the CLI, sorted. */
function timeCli(args: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const began = performance.now();
    execFileSync(join(packageRoot(), 'bin', 'kubegate'), args, { maxBuffer: 64 * 1024 * 1024 });
    times.push(performance.now() - began);
  }
  return times.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-history-'));
  const store = new FileStore(dir);
  const seconds = await recordSampleStore(store, sessions);
  const query = { ref: objectRef('pods/api-7', 'ns-7'), allNamespaces: false, range: { from: new Date(0), to: new Date(start + (days + 1) * 86_400_000) }, selection: {} };
  const found = (await objectHistory(store, query)).length;
  const inProcess: number[] = [];
  for (let i = 0; i < 100; i++) {
    const began = performance.now();
    await objectHistory(store, query);
    inProcess.push(performance.now() - began);
  }
  inProcess.sort((a, b) => a - b);
  const cli = timeCli(['history', 'pods/api-7', '-n', 'ns-7', '--store', `file://${dir}`, '-o', 'json']);
  const startOnly = timeCli(['--help']);
  const summary = {
    sessions, recordSeconds: Number(seconds.toFixed(1)), entriesFound: found,
    historyInProcessMs: { p50: Number(percentile(inProcess, 50).toFixed(1)), p99: Number(percentile(inProcess, 99).toFixed(1)) },
    historyCliMs: { p50: Number(percentile(cli, 50).toFixed(0)), max: Number(cli.at(-1)!.toFixed(0)) },
    cliStartOnlyMs: { p50: Number(percentile(startOnly, 50).toFixed(0)), max: Number(startOnly.at(-1)!.toFixed(0)) },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
}

await main();
