/**
 * Finding sessions from their index objects (`index/YYYY/MM/DD/<session-id>.json`): only the days of the
 * time range are listed, and only index objects are read — never a session's segments.
 */
import { text } from 'node:stream/consumers';
import { parseDuration } from '../util/duration.js';
import { canonicalResource } from './api-call.js';
import type { SessionIndex } from '../recording/format.js';
import type { RecordingStore } from '../recording/store.js';

/** Sessions that started within [from, to]. */
export interface TimeRange {
  from: Date;
  to: Date;
}

export interface SessionFilter {
  subject?: string;
  grant?: string;
  namespace?: string;
  verb?: string;
  resource?: string;
  decision?: string;
}

export const defaultLookbackMs = 7 * 24 * 3_600_000;

/** `--since 2h` or `--from/--to` (RFC 3339); the last 7 days by default. */
export function timeRange(options: { since?: string; from?: string; to?: string }, now = new Date()): TimeRange {
  if (options.since && options.from) throw new Error('use --since or --from, not both');
  const instant = (flag: string, value: string) => {
    const time = new Date(value);
    if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) throw new Error(`${flag} "${value}" is not an RFC 3339 time (e.g. 2025-03-01T09:00:00Z)`);
    return time;
  };
  const to = options.to ? instant('--to', options.to) : now;
  const from = options.since
    ? new Date(now.getTime() - parseDuration(options.since))
    : options.from
      ? instant('--from', options.from)
      : new Date(to.getTime() - defaultLookbackMs);
  if (from > to) throw new Error(`the time range is empty: ${from.toISOString()} is after ${to.toISOString()}`);
  return { from, to };
}

/** `ROOT/YYYY/MM/DD/` for every UTC day the range touches. */
export function dayPrefixes(root: 'index' | 'sessions', range: TimeRange): string[] {
  const prefixes: string[] = [];
  const day = new Date(Date.UTC(range.from.getUTCFullYear(), range.from.getUTCMonth(), range.from.getUTCDate()));
  for (; day <= range.to; day.setUTCDate(day.getUTCDate() + 1)) prefixes.push(`${root}/${day.toISOString().slice(0, 10).replaceAll('-', '/')}/`);
  return prefixes;
}

export async function readIndex(store: RecordingStore, key: string): Promise<SessionIndex> {
  try {
    return JSON.parse(await text(await store.get(key))) as SessionIndex;
  } catch (error) {
    throw new Error(`index object ${key} is unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function named(filter: string, ref: { name: string; namespace?: string }): boolean {
  return filter === ref.name || (ref.namespace !== undefined && (filter === `${ref.namespace}/${ref.name}` || filter === `${ref.namespace}.${ref.name}`));
}

export function matchesFilter(index: SessionIndex, filter: SessionFilter, range?: TimeRange): boolean {
  const started = new Date(index.startedAt);
  if (range && (started < range.from || started > range.to)) return false;
  if (filter.subject && !named(filter.subject, index.subject)) return false;
  if (filter.grant && !named(filter.grant, index.grant)) return false;
  if (filter.namespace && !index.namespaces.includes(filter.namespace)) return false;
  if (filter.verb && !index.verbs.includes(filter.verb)) return false;
  if (filter.resource && !index.resources.some((resource) => canonicalResource(resource) === canonicalResource(filter.resource!))) return false;
  if (filter.decision && !index.decisions.some((decision) => decision.toLowerCase() === filter.decision!.toLowerCase())) return false;
  return true;
}

/** Index objects in the range that pass the filter, oldest day first. */
export async function* findSessions(store: RecordingStore, filter: SessionFilter, range: TimeRange): AsyncGenerator<SessionIndex> {
  for (const prefix of dayPrefixes('index', range)) {
    for await (const object of store.list(prefix)) {
      if (!object.key.endsWith('.json')) continue;
      const index = await readIndex(store, object.key);
      if (matchesFilter(index, filter, range)) yield index;
    }
  }
}

/**
 * The session a user names by its id or a unique prefix of it: looked up among the range's days first,
 * then over the whole index (keys only).
 */
export async function resolveSession(store: RecordingStore, ref: string, range: TimeRange): Promise<SessionIndex> {
  const id = ref.replace(/\/$/, '').split('/').pop()!;
  if (!id) throw new Error('give a session id (or a unique prefix of one)');
  const lookIn = async (prefixes: string[]) => {
    const keys: string[] = [];
    for (const prefix of prefixes) {
      for await (const object of store.list(prefix)) {
        const name = object.key.slice(object.key.lastIndexOf('/') + 1);
        if (name === `${id}.json`) return [object.key];
        if (name.startsWith(id) && name.endsWith('.json')) keys.push(object.key);
      }
    }
    return keys;
  };
  let keys = await lookIn(dayPrefixes('index', range));
  if (keys.length === 0) keys = await lookIn(['index/']);
  if (keys.length === 0) throw new Error(`no session ${id} in ${store.url}`);
  if (keys.length > 1) throw new Error(`"${id}" matches ${keys.length} sessions (${keys.slice(0, 3).map((key) => key.slice(key.lastIndexOf('/') + 1, -5)).join(', ')}…); give more of the id`);
  return readIndex(store, keys[0]!);
}
