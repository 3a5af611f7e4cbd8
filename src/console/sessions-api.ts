/**
 * The recordings, as the console's pages read them: the sessions list (from the in-memory index, paged),
 * one session's timeline, its verification, and the asciicast of one terminal stream. A viewer sees the
 * sessions of the policy namespaces where RBAC lets them `list` (the list) or `get` (one session)
 * sessions.kubegate.dev.
 */
import type { ServerResponse } from 'node:http';
import { asciicastLines } from '../audit/asciicast.js';
import { terminalFrames } from '../audit/playback.js';
import { timeRange, type SessionFilter, type TimeRange } from '../audit/query.js';
import { sessionEvents, storedSession, type SessionEvent } from '../audit/reader.js';
import { Timeline } from '../audit/timeline.js';
import { verifySession } from '../audit/verify.js';
import { subjectName } from '../recording/format.js';
import { findBody, sendBody, TimelineBodies, type BodySide, type ShownEntry } from './bodies.js';
import { maySessions, sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { TimelineObjects } from './history-api.js';
import { badRequest, notFound, sendJson } from './http.js';
import { decodeCursor, type IndexedSession } from './session-index.js';

/** One line of the sessions list: what the index knows, without opening the session. */
export interface SessionRow {
  id: string;
  subject: string;
  grant: string;
  policy: string;
  /** The kubectl command line the client sent, where it sent one. */
  client?: string;
  started: string;
  ended?: string;
  open: boolean;
  events: number;
  /** Some request was denied / held for approval (the index knows which decisions were made, not how often). */
  hasDenial: boolean;
  hasApproval: boolean;
  /** Exec and attach commands. */
  commands: string[];
  namespaces: string[];
  verbs: string[];
  resources: string[];
  decisions: string[];
  writers: number;
}

export function sessionRow({ id, summary }: IndexedSession): SessionRow {
  const client = summary.client.command;
  return {
    id,
    subject: `${summary.subject.kind}/${subjectName(summary.subject)}`,
    grant: `${summary.grant.namespace}/${summary.grant.name}`,
    policy: `${summary.policy.namespace}/${summary.policy.name}`,
    ...(client ? { client } : {}),
    started: summary.startedAt,
    ...(summary.endedAt ? { ended: summary.endedAt } : {}),
    open: summary.endedAt === null,
    events: summary.events,
    hasDenial: summary.decisions.includes('Deny'),
    hasApproval: summary.decisions.includes('RequireApproval'),
    commands: summary.commands.filter((command) => command !== client),
    namespaces: summary.namespaces,
    verbs: summary.verbs,
    resources: summary.resources,
    decisions: summary.decisions,
    writers: summary.writers?.length ?? 1,
  };
}

const filterNames = ['subject', 'grant', 'namespace', 'verb', 'resource', 'decision'] as const;

/** The CLI's filters and time range from the query string; no time given: every session. */
export function listQuery(url: URL, now: number): { filter: SessionFilter; range?: TimeRange; cursor?: string; limit: number } {
  const query = url.searchParams;
  const filter: SessionFilter = {};
  for (const name of filterNames) {
    const value = query.get(name);
    if (value) filter[name] = value;
  }
  const times = { since: query.get('since') || undefined, from: query.get('from') || undefined, to: query.get('to') || undefined };
  let range: TimeRange | undefined;
  if (times.since || times.from || times.to) {
    try {
      range = timeRange(times, new Date(now));
    } catch (error) {
      throw badRequest((error as Error).message.replaceAll('--', ''));
    }
  }
  const limitText = query.get('limit') ?? '50';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > 500) throw badRequest(`limit must be a whole number from 1 to 500, got "${limitText}"`);
  const cursor = query.get('cursor') || undefined;
  if (cursor !== undefined && !decodeCursor(cursor)) throw badRequest('cursor is not one this console gave');
  return { filter, ...(range ? { range } : {}), ...(cursor ? { cursor } : {}), limit };
}

export async function listSessions(services: ConsoleServices, call: ApiCall): Promise<void> {
  const query = listQuery(call.url, services.now());
  const visible = await sessionScope(services, call.viewer, 'list');
  await services.index.fresh();
  const page = services.index.page(query.filter, query.range, (session) => visible(session.summary.policy.namespace), query.cursor, query.limit);
  sendJson(call.response, 200, { items: page.items.map(sessionRow), total: page.total, ...(page.next ? { next: page.next } : {}) });
}

/** A session id, or a prefix of one, as a path may carry it. */
export function sessionRef(text: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(text)) throw badRequest(`"${text}" is not a session id`);
  return text;
}

/** The session a path names, if the viewer may `get` it (a session they may not see is "not found" only when it does not exist). */
export async function visibleSession(services: ConsoleServices, call: ApiCall, ref: string): Promise<IndexedSession> {
  let session = services.index.find(sessionRef(ref));
  if (!session) {
    await services.index.fresh();
    session = services.index.find(ref);
  }
  if (!session) throw notFound(`no session ${ref}`);
  const namespace = session.summary.policy.namespace;
  // a session the viewer may not read is one they cannot tell from one that does not exist: a 403 would confirm an id (or a prefix) and name its namespace
  if (!(await maySessions(services, call.viewer, 'get', namespace))) throw notFound(`no session ${ref}`);
  return session;
}

export async function* eventsOf(services: ConsoleServices, session: IndexedSession): AsyncGenerator<SessionEvent> {
  yield* sessionEvents(services.store, await storedSession(services.store, session.id, session.indexes));
}

/** The most timeline entries one answer carries: a session of endless output stops there, and says so. */
const maxTimelineEntries = 20_000;

/** What a session did, counted while its events are read (the index does not count them). */
function counter() {
  const counts = { requests: 0, denied: 0, streams: 0 };
  return {
    counts,
    add(event: SessionEvent): void {
      if (event.type === 'request') counts.requests++;
      else if (event.type === 'decision' && event.action === 'Deny') counts.denied++;
      else if (event.type === 'stream-open') counts.streams++;
    },
  };
}

export async function showSession(services: ConsoleServices, call: ApiCall): Promise<void> {
  const session = await visibleSession(services, call, call.params[0]!);
  const timeline = new Timeline({ output: true });
  const bodies = new TimelineBodies();
  const { counts, add } = counter();
  const objects = new TimelineObjects();
  const entries: ShownEntry[] = [];
  let error: string | undefined;
  try {
    for await (const event of eventsOf(services, session)) {
      add(event);
      bodies.push(event);
      objects.push(event);
      entries.push(...timeline.push(event).map((entry) => objects.attach(bodies.attach(entry))));
      if (entries.length >= maxTimelineEntries) break;
    }
    if (entries.length < maxTimelineEntries) entries.push(...timeline.end().map((entry) => objects.attach(bodies.attach(entry))));
  } catch (failure) {
    error = `the recording could not be read to the end: ${(failure as Error).message}`;
  }
  const truncated = entries.length >= maxTimelineEntries;
  sendJson(call.response, 200, { session: sessionRow(session), counts, timeline: entries.slice(0, maxTimelineEntries), ...(truncated ? { truncated: true } : {}), ...(error ? { error } : {}) });
}

export async function verifySessionCall(services: ConsoleServices, call: ApiCall): Promise<void> {
  const session = await visibleSession(services, call, call.params[0]!);
  const report = await verifySession(services.store, await storedSession(services.store, session.id, session.indexes));
  sendJson(call.response, 200, {
    status: report.status,
    problems: report.problems.map((problem) => problem.message),
    notes: report.notes,
    lock: report.objectLock,
    segments: report.segments,
    events: report.events,
    bytes: report.bytes,
  });
}

/** One recorded body whole, as the timeline's link to a body it cut fetches it. */
export async function wholeBody(services: ConsoleServices, call: ApiCall): Promise<void> {
  const session = await visibleSession(services, call, call.params[0]!);
  const [requestId, side] = [call.params[1]!, call.params[2] as BodySide];
  const event = await findBody(eventsOf(services, session), requestId, side);
  if (!event) throw notFound(`session ${session.id} recorded no ${side} body for ${requestId}`);
  sendBody(call.response, event, `${requestId}-${side}.bin`);
}

/** Resolves once the response takes more again, or is gone. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done).off('close', done);
      resolve();
    };
    response.on('drain', done).on('close', done);
  });
}

/** asciicast v2 of one exec or attach stream (the request id the timeline names it by). */
export async function streamCast(services: ConsoleServices, call: ApiCall): Promise<void> {
  const session = await visibleSession(services, call, call.params[0]!);
  const stream = call.params[1]!;
  async function* frames() {
    for await (const frame of terminalFrames(eventsOf(services, session))) if (frame.requestId === stream) yield frame;
  }
  const lines = asciicastLines(frames(), `kubegate session ${session.id} (${subjectName(session.summary.subject)})`);
  const first = await lines.next();
  if (first.done) throw notFound(`session ${session.id} has no terminal stream ${stream}`);
  call.response.writeHead(200, { 'Content-Type': 'application/x-asciicast; charset=utf-8', 'Cache-Control': 'no-store' });
  call.response.write(first.value);
  for await (const line of lines) {
    if (call.response.destroyed) return; // the page went away: stop reading the recording
    if (!call.response.write(line)) await drained(call.response);
  }
  call.response.end();
}
