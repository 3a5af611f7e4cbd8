/**
 * The headers that cross the gateway. Toward the API server: never the caller's credentials or any
 * identity claim (Authorization, Impersonate-*, front-proxy X-Remote-*; security invariant 3), no
 * hop-by-hop headers; then the gateway's impersonation of the caller and the session id as an extra,
 * so the API server's audit log lines up with the recording.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { CallerIdentity } from './auth.js';

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);
// kubegate-grant: a person's choice among their grants (admit.ts), for the gateway alone
const identityClaim = /^(authorization|proxy-authorization|impersonate-.*|x-remote-.*|kubegate-grant)$/i;
/**
 * Compression would hide what the gateway must read: a gzip body (the API server compresses responses
 * above 128 KiB when asked) passes the JSON and text maskers unread, and compressed WebSocket frames
 * would hide the stream from the recorder (the API server offers none anyway). Not asking for it, the
 * gateway reads every body as the API server wrote it.
 */
const notRelayed = new Set(['sec-websocket-extensions', 'accept-encoding']);

const sessionIdExtra = 'Impersonate-Extra-kubegate.dev%2fsession-id';

export function upstreamHeaders(incoming: IncomingHttpHeaders, identity: CallerIdentity, sessionId: string, options: { upgrade?: boolean } = {}): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || identityClaim.test(name) || hopByHop.has(name) || notRelayed.has(name)) continue;
    if (name.startsWith(':')) continue; // HTTP/2 pseudo-headers
    headers[name] = value;
  }
  if (options.upgrade) {
    headers.connection = 'Upgrade';
    if (incoming.upgrade) headers.upgrade = incoming.upgrade;
  }
  headers['Impersonate-User'] = identity.user;
  headers['Impersonate-Group'] = identity.groups;
  headers[sessionIdExtra] = sessionId;
  return headers;
}

/** Response headers passed back to kubectl (hop-by-hop ones are the server's own business). */
export function downstreamHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  }
  return headers;
}
