/**
 * `GET /api/history?resource=&name=&namespace=[&allNamespaces=1][&since=|&from=&to=]`: every recorded call
 * on one object, oldest first, from the store's per-object index (src/audit/history.ts, what `kubegate
 * history` reads). The index spans sessions of every policy: a viewer sees the calls of the sessions whose
 * policy namespace RBAC lets them `list` sessions.kubegate.dev in (the sessions list's check).
 */
import type { RecordedAttributes } from '../audit/api-call.js';
import { objectHistory, objectRef, type HistoryQuery } from '../audit/history.js';
import { timeRange } from '../audit/query.js';
import type { SessionEvent } from '../audit/reader.js';
import type { ShownEntry } from './bodies.js';
import { sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { badRequest, sendJson } from './http.js';

/** The beginning of recorded time, for a history without `since` or `from` (as the CLI's). */
const allTime = '1970-01-01T00:00:00Z';

/** The object one API call names, as /api/history takes it: the session page links a call to its object's history. */
export interface CallObject {
  /** `RESOURCE` of the core group, else `RESOURCE.GROUP`. */
  resource: string;
  namespace?: string;
  name: string;
}

function callObject(attributes: RecordedAttributes): CallObject | undefined {
  if (attributes.isResourceRequest === false || !attributes.resource || !attributes.name) return undefined;
  const resource = attributes.apiGroup ? `${attributes.resource}.${attributes.apiGroup}` : attributes.resource;
  // a namespace's request carries its own name as the namespace: the object is cluster-scoped
  const namespace = attributes.resource === 'namespaces' ? undefined : attributes.namespace || undefined;
  return { resource, ...(namespace ? { namespace } : {}), name: attributes.name };
}

/** Adds to each API call of a timeline the object it names (from its request's attributes). */
export class TimelineObjects {
  private readonly objects = new Map<string, CallObject>();

  push(event: SessionEvent): void {
    if (event.type !== 'request') return;
    const object = callObject(event.attributes as RecordedAttributes);
    if (object) this.objects.set(event.requestId, object);
  }

  attach<T extends ShownEntry>(entry: T): T | (T & { object: CallObject }) {
    if (entry.kind !== 'api') return entry;
    const object = this.objects.get(entry.requestId);
    this.objects.delete(entry.requestId); // a call's entry is shown once: its object is not needed again
    return object ? { ...entry, object } : entry;
  }
}

/** The object and time range the query string names. */
export function historyQuery(url: URL, now: number): HistoryQuery {
  const query = url.searchParams;
  const [resource, name] = [query.get('resource') ?? '', query.get('name') ?? ''];
  if (!resource || !name) throw badRequest('give the object as resource and name');
  const allNamespaces = query.get('allNamespaces') === '1';
  const since = query.get('since') || undefined;
  const from = query.get('from') || (since ? undefined : allTime);
  try {
    const ref = objectRef(`${resource}/${name}`, allNamespaces ? undefined : query.get('namespace') || undefined);
    if (allNamespaces && !ref.namespaced) throw new Error(`${ref.resource} are cluster-scoped: drop allNamespaces`);
    return { ref, allNamespaces, range: timeRange({ since, from, to: query.get('to') || undefined }, new Date(now)), selection: {} };
  } catch (error) {
    throw badRequest((error as Error).message.replaceAll('--', '').replace('drop -n', 'drop namespace'));
  }
}

export async function objectHistoryCall(services: ConsoleServices, call: ApiCall): Promise<void> {
  const query = historyQuery(call.url, services.now());
  const visible = await sessionScope(services, call.viewer, 'list');
  const entries = await objectHistory(services.store, query);
  await services.index.fresh();
  // a session the index does not know (yet) has no policy namespace to check: left out
  const items = entries.filter((entry) => {
    const session = services.index.find(entry.session);
    return session !== undefined && visible(session.summary.policy.namespace);
  });
  sendJson(call.response, 200, { items });
}
