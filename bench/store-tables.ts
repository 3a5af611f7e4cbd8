/**
 * The auditor's tables at scale: DuckDB (`@duckdb/node-api`, in process) running the README's query files
 * (schemas/tables/) over a `file://` store of 10,000 sessions (bench/sample-store.ts: 30 days, six calls
 * each). Prints each query's rows and its run times (p50 and max of 5 runs) as JSON. DuckDB reads every
 * file its view's glob matches (it prunes no YYYY/MM/DD folder), so these are the times of a whole-store scan.
 *   npx tsc -p . && node_modules/.bin/node dist/bench/store-tables.js [sessions=10000] [store-dir]
 * A store-dir that already holds the sessions is reused.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../src/recording/file-store.js';
import { storeTables } from '../test/harness/store-tables.js';
import { recordSampleStore } from './sample-store.js';

const sessions = Number(process.argv[2] ?? 10_000);
const given = process.argv[3];
const dir = given ?? mkdtempSync(join(tmpdir(), 'kubegate-bench-tables-'));

const month = { from_day: '2026/01/01', to_day: '2026/01/31' };
const queries: Array<[file: string, parameters: Record<string, string>]> = [
  ['queries/pod-deletions.sql', { ...month, namespace: 'ns-7' }],
  ['queries/subject-calls.sql', { day: '2026/01/15', subject: 'user-7' }],
  ['queries/session-integrity.sql', month],
  ['duckdb/changed-segments.sql', month],
];

async function main(): Promise<void> {
  const recordSeconds = existsSync(join(dir, 'calls')) ? 0 : await recordSampleStore(new FileStore(dir), sessions);
  const tables = await storeTables(dir);
  const results: Record<string, { rows: number; p50Ms: number; maxMs: number }> = {};
  for (const [file, parameters] of queries) {
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const result = await tables.query(file, parameters);
      times.push(result.ms);
      rows = result.rows.length;
    }
    times.sort((a, b) => a - b);
    results[file] = { rows, p50Ms: Number(times[2]!.toFixed(0)), maxMs: Number(times[4]!.toFixed(0)) };
  }
  tables.close();
  process.stdout.write(`${JSON.stringify({ sessions, recordSeconds: Number(recordSeconds.toFixed(1)), queries: results }, null, 2)}\n`);
  if (!given) rmSync(dir, { recursive: true, force: true });
}

await main();
