/**
 * `/api/search`: the lines of sessions that match a text, the CLI's `sessions search` paged for a page.
 * Sessions are read in two passes over the filtered list, newest first:
 * 1. the sessions whose index already names the text (an exec command, a kubectl command line): a
 *    search for a command reads only those;
 * 2. the others — text in stdin, output or an API call the index cannot name — read for at most a time
 *    budget per answer; `next` continues where the answer stopped.
 * An answer with matches from the first pass stops there, with `next` pointing into the second.
 */
import { SessionSearch } from '../audit/search.js';
import { subjectName } from '../recording/format.js';
import { sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { badRequest, sendJson } from './http.js';
import { encodeCursor, type IndexedSession } from './session-index.js';
import { eventsOf, listQuery } from './sessions-api.js';

export interface SearchHit {
  session: string;
  time: string;
  subject: string;
  kind: string;
  line: string;
}

interface SearchCursor {
  pass: 1 | 2;
  /** The position in the pass's order: sessions are read from after this one. */
  after?: string;
}

/** How long one answer reads sessions no index narrows to (the second pass). */
const searchBudgetMs = 2_000;

/** Matching lines kept per session (a session matching on every line does not fill the page alone). */
const perSession = 20;

function parseCursor(text: string | undefined): SearchCursor {
  if (!text) return { pass: 1 };
  try {
    const cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as SearchCursor;
    if ((cursor.pass === 1 || cursor.pass === 2) && (cursor.after === undefined || typeof cursor.after === 'string')) return cursor;
  } catch {
    // answered below
  }
  throw badRequest('cursor is not one this console gave');
}

const encode = (cursor: SearchCursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url');

/** Whether the session's index names the text: its exec commands and kubectl command lines. */
function indexNames(session: IndexedSession, needle: string): boolean {
  return session.summary.commands.some((command) => command.toLowerCase().includes(needle));
}

async function sessionHits(services: ConsoleServices, session: IndexedSession, text: string): Promise<SearchHit[]> {
  const search = new SessionSearch(text);
  const hits: SearchHit[] = [];
  const subject = subjectName(session.summary.subject);
  for await (const event of eventsOf(services, session)) {
    for (const match of search.push(event)) {
      hits.push({ session: session.id, time: match.time, subject, kind: match.where, line: match.line });
      if (hits.length >= perSession) return hits;
    }
  }
  return hits;
}

export async function searchSessions(services: ConsoleServices, call: ApiCall): Promise<void> {
  const text = (call.url.searchParams.get('q') ?? '').trim();
  if (!text) throw badRequest('give the text to search for (q=…)');
  if (text.length > 500) throw badRequest('the search text is longer than 500 characters');
  let cursor = parseCursor(call.url.searchParams.get('cursor') ?? undefined);
  const filters = new URL(call.url);
  filters.searchParams.delete('cursor'); // the search's own, not the list's
  const query = listQuery(filters, services.now());
  const visible = await sessionScope(services, call.viewer, 'list');
  await services.index.fresh();
  const needle = text.toLowerCase();
  const inPass = (pass: 1 | 2) => (session: IndexedSession) => visible(session.summary.policy.namespace) && indexNames(session, needle) === (pass === 1);
  const started = services.now();
  const items: SearchHit[] = [];
  /** Sessions whose recording could not be read (verify says why): searched no further, named in the answer. */
  const unreadable: string[] = [];
  let scanned = 0;
  const answer = (next?: SearchCursor) => sendJson(call.response, 200, { items, scanned, ...(unreadable.length > 0 ? { unreadable } : {}), ...(next ? { next: encode(next) } : {}) });
  for (;;) {
    let stoppedAfter: IndexedSession | undefined;
    for (const session of services.index.matching(query.filter, query.range, inPass(cursor.pass), cursor.after)) {
      try {
        items.push(...(await sessionHits(services, session, text)));
      } catch {
        unreadable.push(session.id);
      }
      scanned++;
      const outOfTime = cursor.pass === 2 && services.now() - started >= searchBudgetMs;
      if (items.length >= query.limit || outOfTime) {
        stoppedAfter = session;
        break;
      }
    }
    if (stoppedAfter) return answer({ pass: cursor.pass, after: encodeCursor({ startedAt: stoppedAfter.summary.startedAt, id: stoppedAfter.id }) });
    if (cursor.pass === 2) return answer();
    cursor = { pass: 2 };
    if (items.length > 0) return answer(cursor);
  }
}
