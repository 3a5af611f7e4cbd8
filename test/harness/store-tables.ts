/**
 * The auditor's tables over a `file://` store, in DuckDB, exactly as README "Querying the store" has an
 * auditor make them: the views of `schemas/tables/duckdb/*.sql` with `{store}` replaced by the store's
 * folder, and the query files of `schemas/tables/` run as they are, their `$name` parameters bound by name.
 * The documented SQL is the tested SQL: nothing here rewrites a query.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { packageRoot } from '../../src/util/package-root.js';

const tablesDir = join(packageRoot(), 'schemas', 'tables');

/** A file of schemas/tables/, e.g. `queries/pod-deletions.sql`. */
export function tableSql(file: string): string {
  return readFileSync(join(tablesDir, file), 'utf8');
}

export interface StoreTables {
  /** Runs a query file; its rows as JSON values, and how long it took. */
  query(file: string, parameters: Record<string, DuckDBValue>): Promise<{ rows: Array<Record<string, unknown>>; ms: number }>;
  close(): void;
}

/** The views over the store at `root`. */
export async function storeTables(root: string): Promise<StoreTables> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection: DuckDBConnection = await instance.connect();
  // the ledger's and the checkpoint log's views only where the store has their folders (a view over no files fails)
  const views = ['duckdb/tables.sql', ...(['ledger', 'checkpoints'] as const).filter((folder) => existsSync(join(root, folder))).map((folder) => `duckdb/${folder}.sql`)];
  // the store's folder goes into SQL string literals: a quote in it is doubled
  for (const file of views) await connection.run(tableSql(file).replaceAll('{store}', root.replaceAll("'", "''")));
  return {
    async query(file, parameters) {
      const started = performance.now();
      const reader = await connection.runAndReadAll(tableSql(file), parameters);
      return { rows: reader.getRowObjectsJson() as Array<Record<string, unknown>>, ms: performance.now() - started };
    },
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
