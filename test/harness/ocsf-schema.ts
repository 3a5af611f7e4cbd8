/** OCSF 1.3.0 API Activity's JSON Schema (schemas/ocsf/, generated from OCSF's own schema), compiled with ajv. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { packageRoot } from '../../src/util/package-root.js';

/** Returns the schema errors of `event`, or undefined when it is a valid OCSF 1.3.0 API Activity event. */
export function ocsfApiActivityValidator(): (event: unknown) => string | undefined {
  const schema = JSON.parse(readFileSync(join(packageRoot(), 'schemas', 'ocsf', 'api_activity-1.3.0.schema.json'), 'utf8')) as object;
  // strict off: the generated schema carries OCSF's own annotations (deprecated on $ref siblings)
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  return (event) => (validate(event) ? undefined : JSON.stringify(validate.errors));
}
