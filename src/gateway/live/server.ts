/**
 * The live events endpoint (`--events-listen`), served by the gateway's primary process over the
 * gateway's own serving TLS: `GET /events` (SSE: the snapshot, then every worker's events) and
 * `DELETE /sessions/ID` (ends that session in every worker). Every request is authenticated and
 * authorised by the API server, with the gateway's own credential: the bearer token goes to a
 * TokenReview for the audience `kubegate-live-events` (a token the API server itself accepts is refused:
 * whoever shows one here could use it there), its user to a SubjectAccessReview for `sessions.kubegate.dev` in the policy's namespace
 * (verb `watch`, or `delete` naming the session). Refusals are Kubernetes `Status` objects.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { RawKubeClient } from '../../kube/raw-client.js';
import type { Logger } from 'pino';
import type { ServingTls } from '../serving-tls.js';
import type { LiveHub } from './hub.js';
import { liveEventsAudience } from '../../api/names.js';
import { createSubjectAccessReview } from '../../kube/reviews.js';

export type LiveVerb = 'watch' | 'delete';
export type Review = { allowed: true; user: string } | { allowed: false; code: 401 | 403; message: string };

/** Who the bearer of `token` is, and whether they may `verb` sessions (`name`: one session). */
export type LiveAuthorizer = (token: string, verb: LiveVerb, name?: string) => Promise<Review>;

/** TokenReview, then SubjectAccessReview on `sessions.kubegate.dev` in `namespace`, as the gateway. */
export function kubernetesAuthorizer(api: RawKubeClient, namespace: string): LiveAuthorizer {
  return async (token, verb, name) => {
    const review = await api.create<k8s.V1TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [liveEventsAudience] } });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) return { allowed: false, code: 401, message: review.status?.error ?? 'the token is not valid' };
    if (!review.status.audiences?.includes(liveEventsAudience)) return { allowed: false, code: 401, message: `the token is not bound to the audience ${liveEventsAudience}` };
    const access = await createSubjectAccessReview(api, {
      user: user.username,
      groups: user.groups,
      uid: user.uid,
      extra: user.extra,
      resourceAttributes: { group: 'kubegate.dev', resource: 'sessions', verb, namespace, ...(name ? { name } : {}) },
    });
    if (access.status?.allowed) return { allowed: true, user: user.username };
    return { allowed: false, code: 403, message: `${user.username} may not ${verb} sessions.kubegate.dev in namespace ${namespace}` };
  };
}

export interface LiveEventsServerOptions {
  hub: LiveHub;
  tls: Pick<ServingTls, 'cert' | 'key'>;
  listen: { host: string; port: number };
  authorize: LiveAuthorizer;
  logger: Logger;
  /** Default 15 s: an SSE comment keeps idle connections (and proxies) open and finds dead ones. */
  keepAliveMs?: number;
}

function sendStatus(response: ServerResponse, code: number, message: string): void {
  const reason = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 500: 'InternalError' }[code] ?? 'Unknown';
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  response.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(code === 401 ? { 'www-authenticate': 'Bearer realm="kubegate"' } : {}) });
  response.end(body);
}

/** The session id a path segment spells; '' when it is not one. */
function sessionId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

export class LiveEventsServer {
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();

  constructor(private readonly options: LiveEventsServerOptions) {
    this.server = createServer({ cert: options.tls.cert, key: options.tls.key }, (request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        options.logger.error({ err: error }, 'live events request failed');
        if (!response.headersSent) sendStatus(response, 500, 'the live events endpoint failed; the error is in the gateway log');
        else response.destroy();
      });
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const response of this.streams) response.end();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'https://gateway').pathname;
    const ended = /^\/sessions\/([^/]+)$/.exec(path);
    const route = path === '/events' && request.method === 'GET' ? 'watch' : ended && request.method === 'DELETE' ? 'delete' : undefined;
    if (!route) return sendStatus(response, path === '/events' || ended ? 405 : 404, `no ${request.method} ${path} here: GET /events or DELETE /sessions/ID`);
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return sendStatus(response, 401, 'a bearer token (a Kubernetes token) is required');
    const session = ended ? sessionId(ended[1]!) : undefined;
    if (session === '') return sendStatus(response, 400, 'the session id is not a well-formed path segment');
    const review = await this.options.authorize(token, route, session);
    if (!review.allowed) return sendStatus(response, review.code, review.message);
    if (session) {
      const count = await this.options.hub.endSession(session, review.user);
      this.options.logger.info({ session, by: review.user, ended: count }, 'session ended at the live events endpoint');
      const body = JSON.stringify({ ended: count });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    await this.follow(response);
  }

  private async follow(response: ServerResponse): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    response.flushHeaders();
    this.streams.add(response);
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), this.options.keepAliveMs ?? 15_000);
    const unsubscribe = await this.options.hub.subscribe({ write: (text) => void response.write(text), buffered: () => response.writableLength, close: () => response.destroy() });
    const done = () => {
      clearInterval(keepAlive);
      this.streams.delete(response);
      unsubscribe();
    };
    if (response.destroyed) done();
    else response.once('close', done);
  }
}
