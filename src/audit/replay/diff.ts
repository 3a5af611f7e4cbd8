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
  /** A controller made the object and it was matched by owner: its name is the target's own, its node the scheduler's pick. */
  controllerMade?: boolean;
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
  if (path.length === 2 && path[0] === 'metadata') return metadataFields.has(key) || (options.controllerMade === true && key === 'name');
  return path.length === 2 && path[0] === 'spec' && key === 'nodeName' && options.controllerMade === true;
}

/** The object without the annotations controllers write (and without `annotations` when nothing else is left). */
function withoutControllerAnnotations(value: unknown): unknown {
  const metadata = isRecord(value) && isRecord(value.metadata) ? value.metadata : undefined;
  if (!metadata || !isRecord(metadata.annotations)) return value;
  const annotations = Object.fromEntries(Object.entries(metadata.annotations).filter(([key]) => !controllerAnnotations.has(key)));
  const { annotations: _annotations, ...rest } = metadata;
  return { ...value as object, metadata: Object.keys(annotations).length > 0 ? { ...rest, annotations } : rest };
}

const normalize = (value: unknown) => (typeof value === 'string' && randomVolumeName.test(value) ? 'kube-api-access-*' : value);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The side of a field that one object lacks. */
const absent = Symbol('absent');

/** A field one side lacks: each leaf beneath it is named (`metadata.labels.team`, not `metadata.labels`). */
function oneSided(value: unknown, side: 'recorded' | 'replayed', path: string[], options: DiffOptions, out: FieldDifference[]): void {
  if (isRecord(value) && Object.keys(value).length > 0) {
    for (const key of Object.keys(value).sort()) if (!ignored([...path, key], options)) oneSided(value[key], side, [...path, key], options, out);
  } else out.push({ path: path.join('.'), [side]: value });
}

function walk(recorded: unknown, replayed: unknown, path: string[], options: DiffOptions, out: FieldDifference[]): void {
  if (recorded === absent || replayed === absent) return oneSided(recorded === absent ? replayed : recorded, recorded === absent ? 'replayed' : 'recorded', path, options, out);
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
  const side = (value: Record<string, unknown> | unknown[]) => (Object.prototype.hasOwnProperty.call(value, key) ? (value as Record<string, unknown>)[key] : absent);
  walk(side(recorded), side(replayed), at, options, out);
}

/** Every field that differs, in path order; empty when the objects agree on everything not ignored. */
export function diffObjects(recorded: unknown, replayed: unknown, options: DiffOptions = {}): FieldDifference[] {
  const out: FieldDifference[] = [];
  walk(withoutControllerAnnotations(recorded), withoutControllerAnnotations(replayed), [], options, out);
  return out;
}

/** One line for a difference: `metadata.labels.team: recorded "a", replayed (absent)`. */
export function renderDifference(difference: FieldDifference): string {
  const side = (present: boolean, value: unknown) => (present ? JSON.stringify(value) : '(absent)');
  return `${difference.path}: recorded ${side('recorded' in difference, difference.recorded)}, replayed ${side('replayed' in difference, difference.replayed)}`;
}
