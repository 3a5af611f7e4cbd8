/**
 * The JSON Schemas of the recording format (`schemas/recording/`, one per shape, covering every version),
 * compiled once. `verify` checks every manifest, index and event line against them, so a malformed
 * recording is named line by line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { packageRoot } from '../util/package-root.js';

export const schemaFiles = {
  event: 'event.schema.json',
  manifest: 'segment-manifest.schema.json',
  index: 'session-index.schema.json',
  object: 'object-index-entry.schema.json',
  checkpoint: 'checkpoint.schema.json',
  key: 'published-key.schema.json',
} as const;

export type SchemaName = keyof typeof schemaFiles;

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function schemaPath(name: SchemaName): string {
  return join(packageRoot(), 'schemas', 'recording', schemaFiles[name]);
}

/** Compiles every schema (strictly: ajv warns of a keyword that does not say which type it applies to). */
export function compileSchemas(): Record<SchemaName, ValidateFunction> {
  const ajv = new Ajv2020({ allErrors: true });
  ajv.addFormat('date-time', { type: 'string', validate: (value: string) => rfc3339.test(value) && !Number.isNaN(Date.parse(value)) });
  for (const name of Object.keys(schemaFiles) as SchemaName[]) ajv.addSchema(JSON.parse(readFileSync(schemaPath(name), 'utf8')));
  const compiled = (name: SchemaName) => ajv.getSchema(`https://kubegate.dev/schemas/recording/${schemaFiles[name]}`)!;
  return Object.fromEntries((Object.keys(schemaFiles) as SchemaName[]).map((name) => [name, compiled(name)])) as Record<SchemaName, ValidateFunction>;
}

let validators: Record<SchemaName, ValidateFunction> | undefined;

/** Null when `value` is valid; otherwise one line naming each violation ("/status must be integer; …"). */
export function schemaErrors(name: SchemaName, value: unknown): string | null {
  validators ??= compileSchemas();
  const validate = validators[name];
  if (validate(value)) return null;
  return describe(validate.errors ?? []);
}

function describe(errors: ErrorObject[]): string {
  // `if` failures only say "must match then schema"; the error inside the branch says what is wrong. A
  // branch that fails leaves its properties unevaluated: "unknown property" is news only when nothing else is wrong.
  const inBranch = errors.filter((error) => error.keyword !== 'if');
  const others = inBranch.filter((error) => error.keyword !== 'unevaluatedProperties');
  const useful = others.length > 0 ? others : inBranch;
  return [...new Set(useful.map((error) => {
    const at = error.instancePath || '(the object)';
    if (error.keyword === 'unevaluatedProperties' || error.keyword === 'additionalProperties') {
      const extra = (error.params as { unevaluatedProperty?: string; additionalProperty?: string });
      return `${at} has an unknown property "${extra.unevaluatedProperty ?? extra.additionalProperty}"`;
    }
    if (error.keyword === 'enum') return `${at} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((value) => JSON.stringify(value)).join(', ')}`;
    return `${at} ${error.message}`;
  }))].join('; ');
}
