/**
 * Where in a JSON body a value must be masked whole: Secret `data`/`stringData` (and the copy of both
 * that `kubectl apply` leaves in an annotation), a TokenRequest's `status.token`, the policy's `fields`,
 * and the cells of Secret tables.
 * One function decides for a value's path, so the in-memory masker (maskObject) and the streaming one
 * agree by construction.
 *
 * A field path names a place inside one Kubernetes object, and is applied wherever an object sits in a
 * response: the body itself, `items[*]` of a list, `rows[*].object` of a Table, and `object` of a watch
 * event. Syntax (a small JSONPath subset):
 *
 *   path     = ["$"] ["."] step *( "." step / "[" select "]" )
 *   step     = name / "*"                  ; "*": any key or index
 *   select   = "*" / index / quoted        ; "[*]": any index, "[2]": that index
 *   quoted   = "'" chars "'" / '"' chars '"'  ; a key with dots or slashes: ['example.com/token']
 *
 * e.g. `.spec.template.spec.containers[*].env[*].value`, `data.password`,
 * `metadata.annotations['example.com/token']`. A path that names an object or array masks every string
 * beneath it; numbers, booleans and keys are never changed (typed clients must still decode the body).
 */

export type PathSegment = string | number;

type Step = { key: string } | { index: number } | { anyKey: true } | { anyIndex: true };

export type FieldPath = readonly Step[];

export class MaskingFieldError extends Error {
  override readonly name = 'MaskingFieldError';
}

/** A body that cannot be masked (malformed, truncated, too deep): the response must be cut, not forwarded. */
export class MaskingError extends Error {
  override readonly name = 'MaskingError';
}

/** Compiles one field path; throws MaskingFieldError on a syntax error. */
export function compileFieldPath(source: string): FieldPath {
  const steps: Step[] = [];
  let rest = source.startsWith('$') ? source.slice(1) : source;
  if (!rest.startsWith('.') && !rest.startsWith('[')) rest = `.${rest}`;
  while (rest.length > 0) {
    const dotted = /^\.([^.[\]'"]+)/.exec(rest);
    const bracket = /^\[(\*|\d+|'[^']*'|"[^"]*")\]/.exec(rest);
    if (dotted) {
      steps.push(dotted[1] === '*' ? { anyKey: true } : { key: dotted[1]! });
      rest = rest.slice(dotted[0].length);
    } else if (bracket) {
      const inner = bracket[1]!;
      steps.push(inner === '*' ? { anyIndex: true } : /^\d+$/.test(inner) ? { index: Number(inner) } : { key: inner.slice(1, -1) });
      rest = rest.slice(bracket[0].length);
    } else throw new MaskingFieldError(`masking field "${source}": cannot read "${rest}"`);
  }
  if (steps.length === 0) throw new MaskingFieldError(`masking field "${source}" names no field`);
  return steps;
}

function stepMatches(step: Step, segment: PathSegment): boolean {
  if ('key' in step) return segment === step.key;
  if ('index' in step) return segment === step.index;
  if ('anyIndex' in step) return typeof segment === 'number';
  return true;
}

/** The field path is a prefix of `path` from `from`: the value sits at or beneath the named field. */
function fieldCovers(field: FieldPath, path: readonly PathSegment[], from: number): boolean {
  if (path.length - from < field.length) return false;
  for (let i = 0; i < field.length; i++) if (!stepMatches(field[i]!, path[from + i]!)) return false;
  return true;
}

/**
 * Where objects may start in a body, as offsets into the path: the body itself, a watch event's
 * `object`, and below either, `items[n]` and `rows[n].object`. Every reading is tried: masking more is
 * safe, masking less is a leak.
 */
function objectOffsets(path: readonly PathSegment[]): number[] {
  const offsets: number[] = [];
  for (const base of path[0] === 'object' ? [0, 1] : [0]) {
    offsets.push(base);
    if (path[base] === 'items' && typeof path[base + 1] === 'number') offsets.push(base + 2);
    if (path[base] === 'rows' && typeof path[base + 1] === 'number' && path[base + 2] === 'object') offsets.push(base + 3);
  }
  return offsets;
}

/** Table columns of a Secret table that show no secret material (everything else is masked). */
const safeSecretColumns = new Set(['name', 'type', 'data', 'age']);

const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

/** Masked Secret `data` keeps its base64 shape: base64 of `*****`. */
export const maskedSecretData = 'KioqKio=';
export const maskedValue = '*****';

export interface MaskRules {
  /** Mask Secret data: the policy says so and the body belongs to the core `secrets` resource (or a Mask rule matched it). */
  secrets: boolean;
  /** Mask a TokenRequest's `status.token` (a bearer token): the policy masks Secrets and this is `serviceaccounts/token`. */
  token?: boolean;
  fields: readonly FieldPath[];
}

/** Whether any value could be masked whole under `rules` (if not, only patterns apply). */
export function masksWholeValues(rules: MaskRules): boolean {
  return rules.secrets || rules.token === true || rules.fields.length > 0;
}

/**
 * The replacement for the string at `path`, or undefined when it is only subject to patterns.
 * `columns` are the Table's column names seen so far (Secret tables: a cell of an unknown column is masked).
 */
export function wholeValueMask(rules: MaskRules, path: readonly PathSegment[], columns: readonly string[] | undefined): string | undefined {
  for (const offset of objectOffsets(path)) {
    if (rules.secrets && path.length - offset >= 2 && path[offset + 1] !== undefined) {
      // `binaryData`: a ConfigMap's, when a Mask rule treats it like a Secret
      if (path[offset] === 'data' || path[offset] === 'binaryData') return maskedSecretData;
      if (path[offset] === 'stringData') return maskedValue;
      // `kubectl apply` keeps the whole Secret, data included, in this annotation
      if (path[offset] === 'metadata' && path[offset + 1] === 'annotations' && path[offset + 2] === lastApplied) return maskedValue;
    }
    if (rules.token && path[offset] === 'status' && path[offset + 1] === 'token') return maskedValue;
    for (const field of rules.fields) if (fieldCovers(field, path, offset)) return maskedValue;
  }
  if (rules.secrets) {
    const base = path[0] === 'object' ? 1 : 0;
    if (path.length - base === 4 && path[base] === 'rows' && path[base + 2] === 'cells' && typeof path[base + 3] === 'number') {
      const column = columns?.[path[base + 3] as number];
      if (column === undefined || !safeSecretColumns.has(column.toLowerCase())) return maskedValue;
    }
  }
  return undefined;
}

/** Whether `path` is the `name` of a Table column definition (the streaming masker captures those). */
export function columnNameIndex(path: readonly PathSegment[]): number | undefined {
  const base = path[0] === 'object' ? 1 : 0;
  if (path.length - base === 3 && path[base] === 'columnDefinitions' && typeof path[base + 1] === 'number' && path[base + 2] === 'name') return path[base + 1] as number;
  return undefined;
}
