/**
 * Finding sessions from their index objects (`index/YYYY/MM/DD/<session-id>/<writer-id>.json`, in v1
 * `index/YYYY/MM/DD/<session-id>.json`): only the days of the time range are listed, and only index
 * objects are read — never a session's segments. A session is what its writers' indexes say together.
 */
import { text } from 'node:stream/consumers';
import { parseDuration } from '../util/duration.js';
import { sessionMayMatch, type Selection } from './selection.js';
import { assertReadableVersion, indexKeySession, sessionFolderOf, type SessionIndex } from '../recording/format.js';
import type { RecordingStore } from '../recording/store.js';

/** Sessions that started within [from, to]. */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** What a session's index can be filtered by: the index-level part of the selection language (selection.ts). */
export type SessionFilter = Pick<Selection, 'subject' | 'grant' | 'namespace' | 'verb' | 'resource' | 'decision'>;

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
export function dayPrefixes(root: 'index' | 'sessions' | 'checkpoints', range: TimeRange): string[] {
  const prefixes: string[] = [];
  const day = new Date(Date.UTC(range.from.getUTCFullYear(), range.from.getUTCMonth(), range.from.getUTCDate()));
  for (; day <= range.to; day.setUTCDate(day.getUTCDate() + 1)) prefixes.push(`${root}/${day.toISOString().slice(0, 10).replaceAll('-', '/')}/`);
  return prefixes;
}

/** Session folders of the range's days, from their keys: finds sessions whose index objects are gone. */
export async function* sessionFolders(store: RecordingStore, range: TimeRange): AsyncGenerator<{ prefix: string; sessionId: string }> {
  for (const day of dayPrefixes('sessions', range)) {
    let last = '';
    for await (const object of store.list(day)) {
      const folder = sessionFolderOf(object.key);
      if (!folder || folder.prefix === last) continue;
      last = folder.prefix;
      yield folder;
    }
  }
}

export async function readIndex(store: RecordingStore, key: string): Promise<SessionIndex> {
  let index: SessionIndex;
  try {
    index = JSON.parse(await text(await store.get(key))) as SessionIndex;
  } catch (error) {
    throw new Error(`index object ${key} is unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
  assertReadableVersion(index?.v, `index object ${key}`);
  return index;
}

/** A session as its writers' index objects describe it. */
export interface FoundSession {
  sessionId: string;
  /** The writers' indexes together: for one writer, its index as it is; for several, with `writers` listed. */
  summary: SessionSummary;
  indexes: SessionIndex[];
}

export type SessionSummary = SessionIndex & { writers?: string[] };

const union = (lists: string[][]) => [...new Set(lists.flat())];

/** One writer's index as it is; several merged: first start, last end (once every writer ended), counts summed, lists joined. */
export function summarize(indexes: SessionIndex[]): SessionSummary {
  if (indexes.length === 1) return indexes[0]!;
  const first = indexes.reduce((earliest, index) => (index.startedAt < earliest.startedAt ? index : earliest));
  const ends = indexes.map((index) => index.endedAt);
  const { writer: _writer, ...session } = first;
  return {
    ...session,
    v: Math.max(...indexes.map((index) => index.v)),
    endedAt: ends.includes(null) ? null : ends.reduce((latest, end) => (end! > latest! ? end : latest)),
    segments: indexes.reduce((sum, index) => sum + index.segments, 0),
    events: indexes.reduce((sum, index) => sum + index.events, 0),
    namespaces: union(indexes.map((index) => index.namespaces)).sort(),
    verbs: union(indexes.map((index) => index.verbs)).sort(),
    resources: union(indexes.map((index) => index.resources)).sort(),
    decisions: union(indexes.map((index) => index.decisions)).sort(),
    commands: union(indexes.map((index) => index.commands)),
    writers: indexes.map((index) => index.writer ?? '').sort(),
  };
}

async function found(store: RecordingStore, keys: string[]): Promise<FoundSession> {
  const indexes: SessionIndex[] = [];
  for (const key of keys) indexes.push(await readIndex(store, key));
  return { sessionId: indexes[0]!.sessionId, summary: summarize(indexes), indexes };
}

/** The index keys under `prefixes`, by the session id they name, in listing order. */
async function indexKeysBySession(store: RecordingStore, prefixes: string[], wanted: (sessionId: string) => boolean = () => true): Promise<Map<string, string[]>> {
  const sessions = new Map<string, string[]>();
  for (const prefix of prefixes) {
    for await (const object of store.list(prefix)) {
      const sessionId = indexKeySession(object.key);
      if (sessionId === undefined || !wanted(sessionId)) continue;
      sessions.set(sessionId, [...(sessions.get(sessionId) ?? []), object.key]);
    }
  }
  return sessions;
}

export function matchesFilter(index: SessionIndex, filter: SessionFilter, range?: TimeRange): boolean {
  const started = new Date(index.startedAt);
  if (range && (started < range.from || started > range.to)) return false;
  return sessionMayMatch(index, filter);
}

/** Sessions started in the range whose indexes pass the filter, oldest day first (a session's writers share its day). */
export async function* findSessions(store: RecordingStore, filter: SessionFilter, range: TimeRange): AsyncGenerator<FoundSession> {
  for (const prefix of dayPrefixes('index', range)) {
    for (const keys of (await indexKeysBySession(store, [prefix])).values()) {
      const session = await found(store, keys);
      if (matchesFilter(session.summary, filter, range)) yield session;
    }
  }
}

/**
 * The session a user names by its id or a unique prefix of it: looked up among the range's days first,
 * then over the whole index (keys only).
 */
export async function resolveSession(store: RecordingStore, ref: string, range: TimeRange): Promise<FoundSession> {
  const id = ref.replace(/\/$/, '').split('/').pop()!;
  if (!id) throw new Error('give a session id (or a unique prefix of one)');
  const lookIn = (prefixes: string[]) => indexKeysBySession(store, prefixes, (sessionId) => sessionId.startsWith(id));
  let sessions = await lookIn(dayPrefixes('index', range));
  if (sessions.size === 0) sessions = await lookIn(['index/']);
  if (sessions.size === 0) throw new Error(`no session ${id} in ${store.url}`);
  const exact = sessions.get(id);
  if (!exact && sessions.size > 1) throw new Error(`"${id}" matches ${sessions.size} sessions (${[...sessions.keys()].slice(0, 3).join(', ')}…); give more of the id`);
  return found(store, exact ?? [...sessions.values()][0]!);
}
