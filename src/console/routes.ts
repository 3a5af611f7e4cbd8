/** The JSON API's routes (the console's contract with its pages: README, "Console"). */
import { decideApproval, listApprovals, listGrants, revokeGrantCall } from './approvals-api.js';
import { sessionScope, type ApiCall, type ConsoleServices } from './context.js';
import { objectHistoryCall } from './history-api.js';
import { grantLedger } from './ledger-api.js';
import { HttpError, notFound, sendJson } from './http.js';
import { endSession, liveEvents } from './live-api.js';
import { searchSessions } from './search.js';
import { listSessions, showSession, streamCast, verifySessionCall, wholeBody } from './sessions-api.js';

type Handler = (services: ConsoleServices, call: ApiCall) => Promise<void>;

/** `GET /api/me`: who the viewer is, the CSRF token for mutations, and what the pages may offer them. */
async function me(services: ConsoleServices, call: ApiCall): Promise<void> {
  const can = (verb: string) => sessionScope(services, call.viewer, verb).then(() => true, (error: unknown) => (error instanceof HttpError && error.status === 403 ? false : Promise.reject(error)));
  const [readSessions, watchSessions, endSessions] = await Promise.all([can('list'), can('watch'), can('delete')]);
  sendJson(call.response, 200, { user: call.viewer.user, groups: call.viewer.groups, csrf: call.session.csrf, can: { readSessions, watchSessions, endSessions } });
}

const segment = '([^/]+)';
const routes: { method: 'GET' | 'POST'; path: RegExp; handler: Handler }[] = [
  { method: 'GET', path: /^\/api\/me$/, handler: me },
  { method: 'GET', path: /^\/api\/approvals$/, handler: listApprovals },
  { method: 'POST', path: new RegExp(`^/api/approvals/${segment}/${segment}$`), handler: decideApproval },
  { method: 'GET', path: /^\/api\/grants$/, handler: listGrants },
  { method: 'POST', path: new RegExp(`^/api/grants/${segment}/${segment}/revoke$`), handler: revokeGrantCall },
  { method: 'GET', path: new RegExp(`^/api/grants/${segment}/${segment}/ledger$`), handler: grantLedger },
  { method: 'GET', path: /^\/api\/sessions$/, handler: listSessions },
  { method: 'GET', path: /^\/api\/search$/, handler: searchSessions },
  { method: 'GET', path: /^\/api\/history$/, handler: objectHistoryCall },
  { method: 'GET', path: new RegExp(`^/api/sessions/${segment}$`), handler: showSession },
  { method: 'GET', path: new RegExp(`^/api/sessions/${segment}/verify$`), handler: verifySessionCall },
  { method: 'GET', path: new RegExp(`^/api/sessions/${segment}/streams/${segment}\\.cast$`), handler: streamCast },
  { method: 'GET', path: new RegExp(`^/api/sessions/${segment}/bodies/${segment}/(request|response)$`), handler: wholeBody },
  { method: 'POST', path: new RegExp(`^/api/sessions/${segment}/end$`), handler: endSession },
  { method: 'GET', path: /^\/api\/live$/, handler: liveEvents },
];

export async function routeApi(services: ConsoleServices, call: ApiCall): Promise<void> {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.path.exec(call.url.pathname);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== call.request.method) continue;
    return route.handler(services, { ...call, params: match.slice(1).map((part) => decodeURIComponent(part)) });
  }
  if (pathMatched) throw new HttpError(405, 'MethodNotAllowed', `${call.request.method} is not allowed on ${call.url.pathname}`);
  throw notFound(`no API ${call.url.pathname}`);
}
