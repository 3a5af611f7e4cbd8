/**
 * `kubegate gateway`: serves one SessionPolicy. TLS toward kubectl with HTTP/2 (kubectl multiplexes its
 * requests and watches over one connection) and HTTP/1.1 (older clients, and every exec, attach and
 * port-forward upgrade), `/healthz` `/readyz` `/metrics` on a separate admin port, pino logs with the
 * session id, hot-reloaded policy, and a graceful drain on SIGTERM: stop accepting, tell HTTP/2 clients to
 * go elsewhere (GOAWAY), let running requests finish (up to the grace period), close recordings.
 */
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccessGrant } from '../api/index.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { KubeConnection } from '../kube/connection.js';
import type { RawKubeClient } from '../kube/raw-client.js';
import { HealthServer } from '../runtime/health.js';
import { Informer } from '../runtime/informer.js';
import { admit, type AdmitContext, type GatewayState } from './admit.js';
import type { GrantLookup } from './auth.js';
import { CommandApprovals } from './command-approvals.js';
import { GatewayError, rawErrorResponse, refusalFor, sendError } from './errors.js';
import { GrantWatch } from './grant-watch.js';
import { guarded } from './guarded.js';
import { forwardRequest } from './http-proxy.js';
import { kubernetesProtobufSchema } from '../kube/kube-protobuf.js';
import { PolicyEngine } from './policy-engine.js';
import { PolicySource, type PolicyFiles } from './policy-source.js';
import type { Recorder } from '../recording/recorder.js';
import type { ServingTls } from './serving-tls.js';
import type { LivePublisher } from './live/publisher.js';
import { SessionTable } from './sessions.js';
import { connectUpstream } from './upstream.js';
import { IdTokenVerifier } from '../token/id-token.js';
import { forwardUpgrade } from './upgrade-proxy.js';

export interface GatewayOptions {
  policy: { namespace: string; name: string };
  listen: { host: string; port: number };
  adminListen: { host: string; port: number };
  /** The API server and the gateway's own credential, toward which requests are forwarded. */
  upstream: KubeConnection;
  /** The gateway's own calls: the grants it watches, approvals it opens and claims, access reviews. */
  api: RawKubeClient;
  policyFiles: PolicyFiles;
  tls: ServingTls;
  recorder: Recorder;
  /** The worker's live feed publisher: it may end this gateway's sessions, and counts into its metrics. */
  live?: LivePublisher;
  logger: Logger;
  maxRequestBodyBytes?: number;
  maxHeaderBytes?: number;
  drainMs?: number;
  /** A kubectl session closes (its recording sealed) after this long without a request (default: the session table's, 60 s). */
  sessionIdleMs?: number;
  /**
   * This process's own folder for the part of a response's recorded body beyond what it keeps in memory,
   * while the response runs (body-capture.ts); emptied at start. None: kept in memory.
   */
  bodySpillDir?: string;
}

export class Gateway {
  private server?: Http2SecureServer;
  private readonly connections = new Set<Socket>();
  private readonly http2Sessions = new Set<ServerHttp2Session>();
  private admin?: HealthServer;
  private grants?: Informer<AccessGrant>;
  /** Ends what runs under a grant once the grant leaves Active (invariant 11). */
  private grantWatch?: GrantWatch;
  private source?: PolicySource;
  private sessions?: SessionTable;
  private state?: GatewayState;
  private draining = false;
  private inflight = 0;
  private readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'kubegate_gateway_requests_total', help: 'requests by decision and status', labelNames: ['action', 'code'], registers: [this.registry] });
  // what a client really speaks: kubectl multiplexes over HTTP/2 unless it cannot (DISABLE_HTTP2, upgrades)
  private readonly httpVersions = new Counter({ name: 'kubegate_gateway_requests_by_http_version_total', help: 'requests received, by the HTTP version the client spoke', labelNames: ['http_version'], registers: [this.registry] });
  private readonly latency = new Histogram({ name: 'kubegate_gateway_admission_seconds', help: 'time from request to forwarding decision', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1], registers: [this.registry] });

  constructor(private readonly options: GatewayOptions) {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The recording settings of the policy in force; undefined until one is loaded. */
  recordingSettings(): CompiledPolicy['recording'] | undefined {
    return this.state?.loaded.compiled.recording;
  }

  /** Port actually bound (useful with port 0). */
  port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  adminPort(): number {
    return this.admin?.port() ?? 0;
  }

  async start(): Promise<void> {
    const { options } = this;
    const logger = options.logger;
    // what a process that ended mid-response left there belongs to no response now
    if (options.bodySpillDir) await emptyFolder(options.bodySpillDir);
    this.source = new PolicySource(
      options.policyFiles,
      (loaded, previous) => {
        this.state = { policyRef: options.policy, loaded, engine: PolicyEngine.load(loaded.compiled), ...verifierFor(loaded.compiled, this.state?.verifier) };
        logger.info({ version: loaded.compiled.version, previous: previous?.compiled.version }, 'policy loaded');
      },
      (error) => logger.warn({ err: error }, 'policy reload failed; keeping the loaded version'),
    );
    await this.source.start();
    this.grants = new Informer<AccessGrant>({ client: options.api, path: `/apis/kubegate.dev/v1alpha1/namespaces/${options.policy.namespace}/accessgrants`, logger });
    const grants: GrantLookup = { get: (namespace, name) => this.grants!.get(`${namespace}/${name}`), list: () => this.grants!.list() };
    this.grantWatch = new GrantWatch({ grants, events: this.grants, logger });
    this.grants.start();
    const grantWatch = this.grantWatch;
    options.live?.attach({ endSession: (session, reason) => grantWatch.endSession(session, { reason, message: reason, code: 'KG_SESSION_ENDED' }) }, this.registry);
    const upstream = connectUpstream(options.upstream);
    this.sessions = new SessionTable({
      recorder: options.recorder,
      policy: () => ({ ...options.policy, version: this.state!.loaded.compiled.version }),
      ...(options.sessionIdleMs !== undefined ? { idleMs: options.sessionIdleMs } : {}),
    });
    const context: AdmitContext = {
      state: () => this.state!,
      grants,
      sessions: this.sessions,
      recorder: options.recorder,
      approvals: new CommandApprovals(options.api, options.policy),
      api: options.api,
      logger,
      maxRequestBodyBytes: options.maxRequestBodyBytes ?? 3 * 1024 * 1024,
    };
    const maxHeaderBytes = options.maxHeaderBytes ?? 64 * 1024;

    // Node's HTTP/2 compatibility request and response mirror IncomingMessage and ServerResponse in all
    // the gateway uses (headers, method, url, the body stream; writeHead, flushHeaders, end, destroy)
    // each handler runs in the request's error boundary (guarded.ts): what even the refusal fails on breaks that request only
    const server = createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true, settings: { maxHeaderListSize: maxHeaderBytes } }, (request, response) =>
      void guarded(this.broken(response), () => this.handle(context, request as unknown as IncomingMessage, response as unknown as ServerResponse, upstream))(),
    );
    // the HTTP/1.1 side reads its limits from the server object, not from the options; no overall request
    // timeout, since watches and exec sessions last as long as they last
    Object.assign(server, { maxHeaderSize: maxHeaderBytes, headersTimeout: 30_000, requestTimeout: 0, keepAliveTimeout: 60_000 });
    // headers and body go out as separate writes; with Nagle on, the second waits for a delayed ACK (40 ms)
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    server.on('secureConnection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
    server.on('session', (session: ServerHttp2Session) => {
      this.http2Sessions.add(session);
      session.once('close', () => this.http2Sessions.delete(session));
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => void guarded(this.broken(socket), () => this.handleUpgrade(context, request, socket, head, upstream))());
    // a request the HTTP/1.1 parser refuses is answered once; later parse errors of the same bytes are
    // ignored, and the socket is half-closed (not destroyed) so that the client reads the answer
    const answered = new WeakSet<Duplex>();
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      if (answered.has(socket)) return;
      answered.add(socket);
      if (socket.writable) socket.end(rawErrorResponse(new GatewayError(error.code === 'HPE_HEADER_OVERFLOW' ? 'KG_HEADERS_TOO_LARGE' : 'KG_BAD_REQUEST', error.message)));
      else socket.destroy();
    });
    this.server = server;
    kubernetesProtobufSchema(); // read before the first request, which would otherwise wait for it
    await new Promise<void>((resolve) => this.server!.listen(options.listen.port, options.listen.host, resolve));

    // ready once a policy is loaded and the grants are listed, and no longer once draining
    this.admin = new HealthServer({
      port: options.adminListen.port,
      host: options.adminListen.host,
      registry: this.registry,
      checks: { policy: () => !!this.state, grants: () => !!this.grants?.hasSynced(), serving: () => !this.draining },
    });
    await this.admin.start();
    logger.info({ port: this.port(), admin: this.adminPort(), policy: `${options.policy.namespace}/${options.policy.name}` }, 'gateway serving');
  }

  private async handle(context: AdmitContext, request: IncomingMessage, response: ServerResponse, upstream: ReturnType<typeof connectUpstream>): Promise<void> {
    const timer = this.latency.startTimer();
    this.httpVersions.inc({ http_version: request.httpVersion });
    this.inflight++;
    response.on('close', () => this.inflight--);
    try {
      if (this.draining) throw new GatewayError('KG_SHUTTING_DOWN');
      if (request.method === 'GET' && request.url === loginDiscoveryPath) return sendLoginDiscovery(response, this.state!);
      const admitted = await admit(context, request, { upgrade: false });
      timer();
      await forwardRequest(admitted, request, response, { upstream, sessions: this.sessions!, grants: this.grantWatch!, logger: this.options.logger, bodySpillDir: this.options.bodySpillDir });
      this.requests.inc({ action: admitted.decision.action, code: 'forwarded' });
    } catch (error) {
      sendError(response, this.refusal(error, 'request'));
    }
  }

  private async handleUpgrade(context: AdmitContext, request: IncomingMessage, socket: Duplex, head: Buffer, upstream: ReturnType<typeof connectUpstream>): Promise<void> {
    socket.on('error', () => socket.destroy());
    this.httpVersions.inc({ http_version: request.httpVersion });
    try {
      if (this.draining) throw new GatewayError('KG_SHUTTING_DOWN');
      const admitted = await admit(context, request, { upgrade: true });
      this.requests.inc({ action: admitted.decision.action, code: 'upgraded' });
      await forwardUpgrade(admitted, request, socket, head, { upstream, sessions: this.sessions!, grants: this.grantWatch!, logger: this.options.logger });
    } catch (error) {
      const refusal = this.refusal(error, 'upgrade');
      if (socket.writable) socket.end(rawErrorResponse(refusal));
    }
  }

  /** The end of a request whose handler failed even to refuse it: logged, its connection (or HTTP/2 stream) broken. */
  private broken(connection: { destroy(): void }): (error: unknown) => void {
    return (error) => {
      this.options.logger.error({ err: error }, 'request handler failed: a bug in the gateway; breaking this request');
      connection.destroy();
    };
  }

  /** The answer to a request that ended in `error`, counted; anything but a refusal by design is logged with its stack. */
  private refusal(error: unknown, what: 'request' | 'upgrade'): GatewayError {
    const refusal = refusalFor(error);
    if (refusal.code === 'KG_INTERNAL') this.options.logger.error({ err: error }, `${what} failed: a bug in the gateway`);
    else if (!(error instanceof GatewayError)) this.options.logger.warn({ err: error }, `${what} failed: the API server could not be reached`);
    this.requests.inc({ action: 'refused', code: refusal.code });
    return refusal;
  }

  /** Stops accepting, waits for running requests up to the drain period, closes recordings. */
  async stop(): Promise<void> {
    this.draining = true;
    this.server?.close();
    for (const session of this.http2Sessions) session.close();
    const deadline = Date.now() + (this.options.drainMs ?? 20_000);
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    for (const socket of this.connections) socket.destroy();
    await this.sessions?.closeAll('gateway stopped');
    this.source?.stop();
    await this.grants?.stop();
    await this.admin?.close();
  }
}

/**
 * The verifier of the policy's identity providers: the one in use while they are unchanged (its
 * discovery and key sets are cached), a new one when they change, none when the policy names none.
 */
function verifierFor(compiled: CompiledPolicy, current: IdTokenVerifier | undefined): { verifier?: IdTokenVerifier } {
  const providers = compiled.identityProviders;
  if (!providers?.length) return {};
  if (current?.sameProviders(providers)) return { verifier: current };
  return { verifier: new IdTokenVerifier(providers) };
}

/**
 * What `kubegate login --server GATEWAY` reads before anyone has a token: the identity providers this
 * policy accepts people from (issuer, audiences, the issuer's CA): public facts, as an issuer's own
 * discovery document is. Nothing else is served without a token.
 */
export const loginDiscoveryPath = '/.well-known/kubegate/identity-providers';

function sendLoginDiscovery(response: ServerResponse, state: GatewayState): void {
  const providers = (state.loaded.compiled.identityProviders ?? []).map(({ issuer }) => issuer);
  const body = JSON.stringify({ policy: state.policyRef, identityProviders: providers });
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(body);
}

/** `dir`, empty, readable by this user alone. */
async function emptyFolder(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
}
