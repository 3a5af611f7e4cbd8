/**
 * The store's session index, held in memory so that listing, filtering and paging 10,000 sessions is a
 * memory operation. Filled once (every key under `index/`, every index object read), then kept current
 * by listing keys only:
 * - every few seconds, today's and yesterday's index folders (where new sessions appear): a key not seen
 *   before is read, and so is one whose session was still open — a writer rewrites its index as
 *   segments seal and, last, when the session ends; an ended writer's index does not change again;
 * - every few minutes, all of `index/`: what a gateway uploaded late (from its spool, after a store
 *   outage) into an older day, sessions left open on older days, objects deleted (retention).
 * A refresh happens when a caller asks for fresh answers and the last one is older than that, never on
 * a timer of its own, so an idle console reads nothing.
 */
import { dayPrefixes, matchesFilter, readIndex, summarize, type SessionFilter, type SessionSummary, type TimeRange } from '../audit/query.js';
import { indexKeySession, type SessionIndex } from '../recording/format.js';
import type { RecordingStore } from '../recording/store.js';

export interface IndexedSession {
  id: string;
  summary: SessionSummary;
  /** Each writer's index object. */
  indexes: SessionIndex[];
}

export interface IndexTiming {
  now: () => number;
  /** How old the recent days' listing may be (default 2 s). */
  recentMs?: number;
  /** How old the full listing may be (default 5 minutes). */
  fullMs?: number;
}

export interface SessionPage {
  items: IndexedSession[];
  next?: string;
  total: number;
}

const dayMs = 24 * 3_600_000;
const readConcurrency = 16;

/** Newest first; the same start broken by id, so the order (and a cursor into it) is total. */
const newestFirst = (a: { startedAt: string; id: string }, b: { startedAt: string; id: string }) =>
  a.startedAt !== b.startedAt ? (a.startedAt < b.startedAt ? 1 : -1) : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;

export function encodeCursor(session: { startedAt: string; id: string }): string {
  return Buffer.from(JSON.stringify([session.startedAt, session.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { startedAt: string; id: string } | undefined {
  try {
    const [startedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    return typeof startedAt === 'string' && typeof id === 'string' ? { startedAt, id } : undefined;
  } catch {
    return undefined;
  }
}

export class SessionIndexCache {
  /** Index objects by key: the last content read, or why it could not be read. */
  private readonly objects = new Map<string, { index?: SessionIndex; error?: string }>();
  private readonly sessions = new Map<string, IndexedSession>();
  private sorted: IndexedSession[] = [];
  private sortedStale = false;
  private lastRecent = -Infinity;
  private lastFull = -Infinity;
  private refreshing: Promise<void> | undefined;
  /** Index objects read so far (for the bench and the tests: a refresh reads only what changed). */
  reads = 0;

  constructor(
    private readonly store: RecordingStore,
    private readonly timing: IndexTiming,
  ) {}

  /** Brings the index up to date where it is older than its refresh intervals (one refresh at a time). */
  fresh(): Promise<void> {
    const now = this.timing.now();
    const full = now - this.lastFull >= (this.timing.fullMs ?? 300_000);
    const recent = now - this.lastRecent >= (this.timing.recentMs ?? 2_000);
    if (!full && !recent) return this.refreshing ?? Promise.resolve();
    this.refreshing ??= this.refresh(full, now).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refresh(full: boolean, now: number): Promise<void> {
    const prefixes = full ? ['index/'] : dayPrefixes('index', { from: new Date(now - dayMs), to: new Date(now) });
    const listed = new Set<string>();
    const toRead: string[] = [];
    for (const prefix of prefixes) {
      for await (const object of this.store.list(prefix)) {
        if (indexKeySession(object.key) === undefined) continue;
        listed.add(object.key);
        const known = this.objects.get(object.key);
        if (!known || known.error !== undefined || known.index?.endedAt === null) toRead.push(object.key);
      }
    }
    const changed = new Set<string>();
    if (full) {
      for (const key of this.objects.keys()) {
        if (listed.has(key)) continue;
        const id = this.objects.get(key)?.index?.sessionId;
        this.objects.delete(key);
        if (id) changed.add(id);
      }
    }
    await inBatches(toRead, readConcurrency, async (key) => {
      try {
        const index = await readIndex(this.store, key);
        this.reads++;
        this.objects.set(key, { index });
        changed.add(index.sessionId);
      } catch (error) {
        this.objects.set(key, { error: error instanceof Error ? error.message : String(error) });
      }
    });
    this.rebuild(changed);
    this.lastRecent = now;
    if (full) this.lastFull = now;
  }

  /** Re-summarises the sessions whose index objects changed. */
  private rebuild(changed: Set<string>): void {
    if (changed.size === 0) return;
    const byId = new Map<string, SessionIndex[]>();
    for (const { index } of this.objects.values()) if (index && changed.has(index.sessionId)) byId.set(index.sessionId, [...(byId.get(index.sessionId) ?? []), index]);
    for (const id of changed) {
      const indexes = byId.get(id);
      if (!indexes) this.sessions.delete(id);
      else this.sessions.set(id, { id, summary: summarize(indexes), indexes });
    }
    this.sortedStale = true;
  }

  private ordered(): IndexedSession[] {
    if (this.sortedStale) {
      this.sorted = [...this.sessions.values()].sort((a, b) => newestFirst({ startedAt: a.summary.startedAt, id: a.id }, { startedAt: b.summary.startedAt, id: b.id }));
      this.sortedStale = false;
    }
    return this.sorted;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Index objects that could not be read, with why (the console reports them, it does not stop). */
  unreadable(): { key: string; error: string }[] {
    return [...this.objects].flatMap(([key, { error }]) => (error === undefined ? [] : [{ key, error }]));
  }

  /** The namespaces of the policies that recorded sessions. */
  policyNamespaces(): string[] {
    return [...new Set([...this.sessions.values()].map((session) => session.summary.policy.namespace))].sort();
  }

  /** A session by its id, or by a prefix of it that only one session has. */
  find(ref: string): IndexedSession | undefined {
    const exact = this.sessions.get(ref);
    if (exact || ref.length < 8) return exact;
    const matches = this.ordered().filter((session) => session.id.startsWith(ref));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** The sessions passing `visible` and the filter, newest first, from after `cursor`. */
  *matching(filter: SessionFilter, range: TimeRange | undefined, visible: (session: IndexedSession) => boolean, cursor?: string): Generator<IndexedSession> {
    const sorted = this.ordered();
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    let start = 0;
    if (after) {
      // the first session strictly after the cursor in the order (binary search)
      let [low, high] = [0, sorted.length];
      while (low < high) {
        const middle = (low + high) >> 1;
        if (newestFirst({ startedAt: sorted[middle]!.summary.startedAt, id: sorted[middle]!.id }, after) <= 0) low = middle + 1;
        else high = middle;
      }
      start = low;
    }
    for (let i = start; i < sorted.length; i++) {
      const session = sorted[i]!;
      if (visible(session) && matchesFilter(session.summary, filter, range)) yield session;
    }
  }

  page(filter: SessionFilter, range: TimeRange | undefined, visible: (session: IndexedSession) => boolean, cursor: string | undefined, limit: number): SessionPage {
    let total = 0;
    for (const _ of this.matching(filter, range, visible)) total++;
    const items: IndexedSession[] = [];
    let more = false;
    for (const session of this.matching(filter, range, visible, cursor)) {
      if (items.length === limit) {
        more = true;
        break;
      }
      items.push(session);
    }
    const last = items.at(-1);
    return { items, total, ...(more && last ? { next: encodeCursor({ startedAt: last.summary.startedAt, id: last.id }) } : {}) };
  }
}

/** Runs `work` over `items`, at most `concurrency` at once. */
async function inBatches<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
