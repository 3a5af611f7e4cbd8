/**
 * The structural difference between the object a recorded call returned and the one its replay returned,
 * without the fields the API server or its controllers set on their own (README, "Replaying a session",
 * says why each is ignored).
 */

export interface FieldDifference {
  /** A dotted path: `metadata.labels.team`, `spec.containers.0.image`. */
  path: string;
  /** Absent on the side that lacks the field. */
  recorded?: unknown;
  replayed?: unknown;
}

export interface DiffOptions {
  /** Keep `status` (a call to the status subresource sets it); otherwise controllers do. */
  keepStatus?: boolean;
  /** The object was matched by owner, not by name: its name is the target's own. */
  ignoreName?: boolean;
}

/** Keys ignored wherever they appear: the identity and version of an object in one particular cluster. */
const everywhere = new Set(['uid', 'resourceVersion']);
/** Keys ignored in `metadata`: set by the server when it stores or deletes, or by a controller. */
const metadataFields = new Set(['creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp']);
/** Annotations a controller writes when it gets to it (the Deployment controller's revision count). */
const controllerAnnotations = new Set(['deployment.kubernetes.io/revision']);
/** The ServiceAccount admission plugin names a pod's token volume with 5 random characters. */
const randomVolumeName = /^kube-api-access-[a-z0-9]{5}$/;

function ignored(path: string[], options: DiffOptions): boolean {
  const key = path[path.length - 1]!;
  if (everywhere.has(key)) return true;
  if (path.length === 1 && key === 'status' && !options.keepStatus) return true;
  if (path.length === 2 && path[0] === 'metadata') return metadataFields.has(key) || (options.ignoreName === true && key === 'name');
  return path.length === 3 && path[0] === 'metadata' && path[1] === 'annotations' && controllerAnnotations.has(key);
}

const normalize = (value: unknown) => (typeof value === 'string' && randomVolumeName.test(value) ? 'kube-api-access-*' : value);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function walk(recorded: unknown, replayed: unknown, path: string[], options: DiffOptions, out: FieldDifference[]): void {
  if (Array.isArray(recorded) && Array.isArray(replayed)) {
    for (let i = 0; i < Math.max(recorded.length, replayed.length); i++) step(recorded, replayed, String(i), path, options, out);
    return;
  }
  if (isRecord(recorded) && isRecord(replayed)) {
    for (const key of [...new Set([...Object.keys(recorded), ...Object.keys(replayed)])].sort()) step(recorded, replayed, key, path, options, out);
    return;
  }
  if (normalize(recorded) !== normalize(replayed)) out.push({ path: path.join('.'), recorded, replayed });
}

function step(recorded: Record<string, unknown> | unknown[], replayed: Record<string, unknown> | unknown[], key: string, path: string[], options: DiffOptions, out: FieldDifference[]): void {
  const at = [...path, key];
  if (ignored(at, options)) return;
  const has = (value: object) => Object.prototype.hasOwnProperty.call(value, key);
  const a = (recorded as Record<string, unknown>)[key];
  const b = (replayed as Record<string, unknown>)[key];
  if (!has(recorded)) out.push({ path: at.join('.'), replayed: b });
  else if (!has(replayed)) out.push({ path: at.join('.'), recorded: a });
  else walk(a, b, at, options, out);
}

/** Every field that differs, in path order; empty when the objects agree on everything not ignored. */
export function diffObjects(recorded: unknown, replayed: unknown, options: DiffOptions = {}): FieldDifference[] {
  const out: FieldDifference[] = [];
  walk(recorded, replayed, [], options, out);
  return out;
}

/** One line for a difference: `metadata.labels.team: recorded "a", replayed (absent)`. */
export function renderDifference(difference: FieldDifference): string {
  const side = (present: boolean, value: unknown) => (present ? JSON.stringify(value) : '(absent)');
  return `${difference.path}: recorded ${side('recorded' in difference, difference.recorded)}, replayed ${side('replayed' in difference, difference.replayed)}`;
}
