/**
 * `kubegate console`: the web console's server. Every `/api/` call is answered for a signed-in viewer
 * only (the session cookie); every mutation also carries the session's CSRF token; every answer passes
 * one error boundary, so a malformed request gets one 400 and nothing a client sends stops the console.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type * as k8s from '@kubernetes/client-node';
import type { SessionPolicy } from '../api/index.js';
import type { IdentityProvider } from '../token/id-token.js';
import type { RecordingStore } from '../recording/store.js';
import { realClock, type Clock } from '../runtime/reconciler.js';
import type { Viewer } from './auth.js';
import type { ConsoleServices } from './context.js';
import { HttpError, securityHeaders, sendError, sendJson } from './http.js';
import { OidcLogin } from './oidc-login.js';
import { SignIn } from './sign-in.js';
import { AccessReviews, KubeApi, KubeApiError } from './kube-api.js';
import { GatewayEvents, type GatewayTarget } from './live.js';
import { LiveEventsTokens } from './live-token.js';
import { SessionIndexCache } from './session-index.js';
import { StaticFiles } from './static.js';
import { routeApi } from './routes.js';

export interface ConsoleOptions {
  listen: { host: string; port: number };
  kubeconfig: k8s.KubeConfig;
  store: RecordingStore;
  gateways?: GatewayTarget[];
  /** The CA the gateways' events endpoints are verified with. */
  gatewayCa?: string;
  /** A folder with tls.crt and tls.key: serve HTTPS (required to listen beyond loopback). */
  tlsDir?: string;
  /** The URL people reach the console at, for the links it prints (default: from --listen). */
  publicUrl?: string;
  loginAs?: Viewer[];
  /** Sign-in at the identity provider of a SessionPolicy's `spec.identityProviders` entry (oidc-login.ts). */
  oidc?: OidcOptions;
  webDir?: string;
  logger: Logger;
  clock?: Clock;
}

export interface OidcOptions {
  policy: { namespace: string; name: string };
  /** Which of the policy's providers, when it names several (default: the first). */
  issuer?: string;
  /** The console's client at the provider (a public client: PKCE, no secret). */
  clientId: string;
  scopes?: string;
}

export interface RunningConsole {
  url: string;
  /** One login link per `loginAs`, in order. */
  links: { viewer: Viewer; url: string }[];
  services: ConsoleServices;
  /** A new one-time login link (a running console's operator can hand out more). */
  loginLink(viewer: Viewer): string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The SessionPolicies as the console's own credential reads them, at most every 30 s. */
function policyCache(kube: KubeApi, now: () => number): () => Promise<SessionPolicy[]> {
  let cached: { at: number; policies: Promise<SessionPolicy[]> } | undefined;
  return () => {
    if (!cached || now() - cached.at > 30_000) {
      const policies = kube.call<{ items: SessionPolicy[] }>({ path: '/apis/kubegate.dev/v1alpha1/sessionpolicies' }).then((list) => list.items);
      cached = { at: now(), policies };
      policies.catch(() => {
        if (cached?.policies === policies) cached = undefined; // asked again next time
      });
    }
    return cached.policies;
  };
}

/** The policy's identity provider entry, from the policies the console's own credential reads (cached 30 s). */
async function policyProvider(policies: () => Promise<SessionPolicy[]>, oidc: OidcOptions): Promise<IdentityProvider> {
  const { namespace, name } = oidc.policy;
  const policy = (await policies()).find((candidate) => candidate.metadata.namespace === namespace && candidate.metadata.name === name);
  if (!policy) throw new Error(`no SessionPolicy ${namespace}/${name}`);
  const providers = policy.spec?.identityProviders ?? [];
  const provider = oidc.issuer ? providers.find((candidate) => candidate.issuer.url === oidc.issuer) : providers[0];
  if (!provider) throw new Error(`SessionPolicy ${namespace}/${name} names ${oidc.issuer ? `no identity provider with issuer ${oidc.issuer}` : 'no identity provider'}`);
  return provider;
}

/** The status and code of a failure, for the error boundary. */
function httpErrorOf(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof KubeApiError) {
    // the API server's refusal, as it said it (admission's message, RBAC's); a 401 refuses the console's
    // own credential, not the viewer, who is signed in
    if (error.status >= 400 && error.status < 500 && error.status !== 401) return new HttpError(error.status, error.reason || 'ApiServerRefused', error.message);
    return new HttpError(502, 'ApiServerUnavailable', `the API server failed: ${error.message}`);
  }
  if (error instanceof URIError) return new HttpError(400, 'BadRequest', 'the URL is not validly encoded');
  return new HttpError(500, 'Internal', `internal error: ${error instanceof Error ? error.message : String(error)}`);
}

function consoleServices(options: ConsoleOptions, clock: Clock): ConsoleServices {
  const now = () => clock.now();
  const kube = new KubeApi(options.kubeconfig);
  const liveTokens = new LiveEventsTokens((call) => kube.call(call), now);
  return {
    store: options.store,
    index: new SessionIndexCache(options.store, { now }),
    kube,
    reviews: new AccessReviews(kube, now),
    gateways: new GatewayEvents(options.gateways ?? [], options.gatewayCa ? { ca: options.gatewayCa } : {}, () => liveTokens.token()),
    policies: policyCache(kube, now),
    now,
    clock,
  };
}

async function listening(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { host, port } = options.listen;
  if (!options.tlsDir && !isLoopback(host)) throw new Error(`--listen ${host}:${port} is not a loopback address: serving beyond this machine needs HTTPS (--tls-dir with tls.crt and tls.key)`);
  const clock = options.clock ?? realClock;
  const services = consoleServices(options, clock);
  const log = options.logger;
  const tls = options.tlsDir ? { cert: readFileSync(join(options.tlsDir, 'tls.crt')), key: readFileSync(join(options.tlsDir, 'tls.key')) } : undefined;
  const files = new StaticFiles(options.webDir);
  const server: Server = tls ? createHttpsServer(tls) : createHttpServer();
  const boundPort = await listening(server, host, port);
  const baseUrl = options.publicUrl?.replace(/\/$/, '') ?? `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  const oidc = options.oidc && new OidcLogin({ provider: () => policyProvider(services.policies, options.oidc!), clientId: options.oidc.clientId, redirectUri: `${baseUrl}/auth/callback`, ...(options.oidc.scopes ? { scopes: options.oidc.scopes } : {}) }, clock);
  const signIn = new SignIn(clock, tls !== undefined, (viewer, how) => log.info({ user: viewer.user, groups: viewer.groups }, `viewer signed in with ${how}`), oidc);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    securityHeaders(response);
    const url = new URL(request.url ?? '/', 'http://console');
    if (url.pathname === '/healthz') return sendJson(response, 200, { ok: true, sessions: services.index.size });
    if (request.method === 'GET' && url.pathname === '/login') return signIn.login(url, response);
    if (request.method === 'GET' && url.pathname === '/auth/config') return signIn.config(response);
    if (request.method === 'GET' && url.pathname === '/auth/login') return signIn.beginOidc(url, response);
    if (request.method === 'GET' && url.pathname === '/auth/callback') return signIn.finishOidc(request, url, response);
    if (url.pathname.startsWith('/api/')) {
      const session = signIn.sessionOf(request);
      if (url.pathname === '/api/logout' && request.method === 'POST') return signIn.logout(session, response);
      return routeApi(services, { request, response, url, session, viewer: session.viewer, params: [] });
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'MethodNotAllowed', `${request.method} is not served here`);
    return files.serve(url.pathname, response, request.method === 'HEAD');
  };

  // handlers attached right after listening (nobody knows a port 0 before): no request comes in between
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const started = clock.now();
    response.once('finish', () => log.debug({ method: request.method, path: request.url?.split('?')[0], status: response.statusCode, ms: clock.now() - started }, 'console request'));
    handle(request, response).catch((error: unknown) => {
      const failure = httpErrorOf(error);
      if (failure.status >= 500) log.error({ err: error, path: request.url }, 'console request failed');
      if (response.headersSent) return void response.destroy();
      sendError(response, failure);
    });
  });
  server.on('clientError', (_error, socket) => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
  const loginLink = (viewer: Viewer) => `${baseUrl}/login?token=${signIn.issue(viewer)}`;
  // the first fill reads every index object; answers wait for it (index.fresh), the server does not
  services.index.fresh().catch((error: unknown) => log.error({ err: error }, 'reading the session index failed'));
  return {
    url: baseUrl,
    links: (options.loginAs ?? []).map((viewer) => ({ viewer, url: loginLink(viewer) })),
    services,
    loginLink,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      services.kube.close();
    },
  };
}
