/**
 * The auditor's table definitions (schemas/tables/) against the format's schemas and the README: every
 * column of the Athena, Trino and DuckDB tables is a field of the recording schema its rows follow (the
 * calls table has every field of a call), and each SQL block of README "Querying the store" is the text of
 * a file there, each query file linked — so the documented SQL is the SQL the integration test runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaPath } from '../../src/recording/schemas.js';
import { packageRoot } from '../../src/util/package-root.js';
import { tableSql } from '../harness/store-tables.js';

/** The text between the bracket that opens at `from` and the one that closes it. */
function bracketed(text: string, from: number, open: string, close: string): string {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === open) depth++;
    else if (text[i] === close && --depth === 0) return text.slice(from + 1, i);
  }
  throw new Error(`no closing ${close} after ${from}`);
}

/** The column names of `CREATE … TABLE name (…)` (Athena, Trino), lower-cased, the partition column left out. */
function createdColumns(sql: string, table: string): string[] {
  const body = bracketed(sql, sql.indexOf('(', sql.indexOf(`TABLE ${table} (`)), '(', ')').replace(/--.*$/gm, '');
  const columns: string[] = [];
  let depth = 0;
  let item = '';
  for (const char of `${body},`) {
    if (char === ',' && depth === 0) {
      columns.push(item.trim().split(/\s+/)[0]!.replace(/[`"]/g, '').toLowerCase());
      item = '';
      continue;
    }
    if ('(<'.includes(char)) depth++;
    if (')>'.includes(char)) depth--;
    item += char;
  }
  return columns.filter((column) => column !== 'day');
}

/** The keys of the `columns = {…}` of a DuckDB view, lower-cased. */
function viewColumns(sql: string, view: string): string[] {
  const at = sql.indexOf('columns = {', sql.indexOf(`VIEW ${view} AS`));
  const body = bracketed(sql, sql.indexOf('{', at), '{', '}');
  return [...body.matchAll(/(?:^|,)\s*"?(\w+)"?\s*:/g)].map((match) => match[1]!.toLowerCase());
}

function schemaFields(name: 'object' | 'index' | 'manifest' | 'checkpoint'): string[] {
  const schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as { properties: Record<string, unknown> };
  return Object.keys(schema.properties).map((field) => field.toLowerCase());
}

const tables = [
  { athena: 'kubegate_calls', duckdb: 'kubegate_calls', schema: 'object' },
  { athena: 'kubegate_sessions', duckdb: 'kubegate_sessions', schema: 'index' },
  { athena: 'kubegate_session_objects', duckdb: 'kubegate_manifests', schema: 'manifest' },
  { athena: 'kubegate_checkpoints', duckdb: 'kubegate_checkpoints', schema: 'checkpoint', duckdbFile: 'duckdb/checkpoints.sql' },
] as const;

test('every column of the Athena, Trino and DuckDB tables is a field of its rows\' schema; the calls and checkpoint tables have every field', () => {
  const [athena, trino] = [tableSql('athena.sql'), tableSql('trino.sql')];
  for (const table of tables) {
    const fields = schemaFields(table.schema);
    const duckdb = tableSql('duckdbFile' in table ? table.duckdbFile : 'duckdb/tables.sql');
    const definitions = { athena: createdColumns(athena, table.athena), trino: createdColumns(trino, table.athena), duckdb: viewColumns(duckdb, table.duckdb) };
    for (const [engine, columns] of Object.entries(definitions)) {
      assert.ok(columns.length > 5, `${engine} ${table.athena}: ${columns.join(', ')}`);
      assert.deepEqual(columns.filter((column) => !fields.includes(column)), [], `${engine} ${table.athena}: columns no ${table.schema} has`);
      if (table.schema === 'object' || table.schema === 'checkpoint') assert.deepEqual([...columns].sort(), [...fields].sort(), `${engine}: every field of a ${table.schema}`);
    }
    assert.deepEqual(definitions.trino, definitions.athena, `${table.athena}: Trino's columns are Athena's`);
  }
});

test('README "Querying the store" shows the files\' SQL verbatim and links every query file', () => {
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Querying the store'), readme.indexOf('## The console'));
  const files = ['athena.sql', 'trino.sql', 'duckdb/tables.sql', 'duckdb/ledger.sql', 'duckdb/checkpoints.sql', 'duckdb/changed-segments.sql', ...readdirSync(join(packageRoot(), 'schemas', 'tables', 'queries')).map((name) => `queries/${name}`)];
  for (const file of files) assert.ok(section.includes(`(schemas/tables/${file})`), `README links ${file}`);
  const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => match[1]!.trimEnd());
  assert.ok(blocks.length >= 3);
  for (const block of blocks) assert.ok(files.some((file) => tableSql(file).includes(block)), `a README block is no file's text:\n${block}`);
});
