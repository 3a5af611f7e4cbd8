/**
 * Forwarding an admitted plain request: upstream under the caller's impersonated identity, the response
 * streamed back (masked where the policy says, never buffered whole), request and response recorded —
 * the response body up to the policy's cap, with the cap noted. A request still running when its grant
 * leaves Active (a watch, `logs -f`) is cut off: the client gets the refusal if nothing was sent yet, a
 * broken response otherwise (never one that looks complete), and a `stream-close` records why. Every
 * callback of the forwarding runs in its error boundary (guarded.ts): an unexpected exception ends this
 * request (KG_INTERNAL, or a broken response once headers are out), logged, and never the process.
 */
import { pipeline, type Readable, type Writable } from 'node:stream';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Admitted } from './admit.js';
import type { Logger } from 'pino';
import { GatewayError, refusalFor, sendError } from './errors.js';
import type { GrantEnded, GrantWatch } from './grant-watch.js';
import { guarded, internalErrorReason } from './guarded.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { preferJson, responseMasking } from '../policy/masking/bodies.js';
import type { SessionTable } from './sessions.js';
import type { Upstream } from './upstream.js';
import type { RecordedBody } from '../util/recorded-body.js';
import { BodyCapture } from './body-capture.js';

/** The response as recorded; then, for one cut off (by its grant, invariant 11, or by a failure), why. */
function recordResponse(admitted: Admitted, response: { status: number; durationMs: number; contentType?: string; captured?: RecordedBody }, cutOff?: string): void {
  const { session, requestId } = admitted;
  const { status, durationMs, contentType, captured } = response;
  void session.recorder
    .record({ type: 'response', requestId, status, ...(contentType ? { contentType } : {}), ...(captured ?? { bodyBytes: 0 }), durationMs })
    .catch(() => undefined);
  if (cutOff) void session.recorder.record({ type: 'stream-close', requestId, reason: cutOff }).catch(() => undefined);
}

interface ForwardContext {
  upstream: Upstream;
  sessions: SessionTable;
  grants: GrantWatch;
  logger: Logger;
  /** Where a response's capture beyond what it keeps in memory waits for its end (body-capture.ts); none: all in memory. */
  bodySpillDir?: string;
}

type Finish = (status: number, answer?: { contentType?: string; captured?: Promise<RecordedBody> }) => void;

/** The API server's answer to the client: masked where the policy says so, and tapped for the recording as it streams. */
function relayResponse(admitted: Admitted, upstreamResponse: IncomingMessage, response: ServerResponse, request: { guard: Guard; finish: Finish; bodySpillDir?: string }): void {
  const status = upstreamResponse.statusCode ?? 502;
  const masking = responseMasking(admitted.masking, admitted.attributes, upstreamResponse.headers);
  const outgoing = downstreamHeaders(upstreamResponse.headers);
  if (masking) delete outgoing['content-length'];
  response.writeHead(status, outgoing);
  // watches and `logs -f` must see headers before the first event; a body of known length follows at
  // once, and its headers go out with its first bytes (one write toward the client, not two)
  if (upstreamResponse.headers['content-length'] === undefined) response.flushHeaders();
  const contentType = upstreamResponse.headers['content-type'];
  const stages: Array<Readable | Writable> = masking ? [upstreamResponse, masking, response as unknown as Writable] : [upstreamResponse, response as unknown as Writable];
  // the recording's copy: a 'data' listener beside the pipe, not a Transform in it (one stream less per request)
  const capture = new BodyCapture(admitted.state.loaded.compiled.recording.maxBodyBytes, request.bodySpillDir);
  (masking ?? upstreamResponse).on('data', (chunk: Buffer) => capture.push(chunk));
  relay(
    stages,
    request.guard((error: Error | null) => {
      if (error && !response.destroyed) response.destroy(error);
      request.finish(status, { ...(contentType ? { contentType } : {}), captured: capture.captured(contentType) });
    }),
  );
}

/**
 * What `pipeline` does for the response, without what it allocates per call: an AbortController, aborted
 * at the end with a DOMException and its stack (a few per cent of the gateway's CPU per request). Each stage
 * piped into the next; an error of any stage, or one closing before it ended, destroys them all; `done`
 * once: after the last stage finished, or with the first error.
 */
function relay(stages: Array<Readable | Writable>, done: (error: Error | null) => void): void {
  let settled = false;
  const settle = (error: Error | null) => {
    if (settled) return;
    settled = true;
    if (error) for (const stage of stages) if (!stage.destroyed) stage.destroy(error);
    done(error);
  };
  const last = stages.length - 1;
  stages.forEach((stage, at) => {
    stage.on('error', settle);
    if (at < last) {
      (stage as Readable).pipe(stages[at + 1] as Writable);
      stage.on('close', () => (stage as Readable).readableEnded || settle(prematureClose()));
    } else {
      stage.on('finish', () => settle(null));
      stage.on('close', () => (stage as Writable).writableFinished || settle(prematureClose()));
    }
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

export async function forwardRequest(admitted: Admitted, request: IncomingMessage, response: ServerResponse, context: ForwardContext): Promise<void> {
  const { session, identity, body } = admitted;
  const { upstream, sessions } = context;
  const started = Date.now();
  const headers = upstreamHeaders(request.headers, identity, session.id);
  if (body) headers['content-length'] = String(body.length);
  preferJson(admitted.masking, admitted.attributes, headers);
  let grantEnded: GrantEnded | undefined;
  let failure: string | undefined;
  let releaseGrant = (): void => undefined;
  let finished = false;
  const finish: Finish = (status, answer = {}) => {
    if (finished) return;
    finished = true;
    releaseGrant();
    const [durationMs, cutOff] = [Date.now() - started, grantEnded?.reason ?? failure];
    const recorded = (captured?: RecordedBody) => recordResponse(admitted, { status, durationMs, ...(answer.contentType ? { contentType: answer.contentType } : {}), ...(captured ? { captured } : {}) }, cutOff);
    if (!answer.captured) {
      sessions.leave(session);
      return recorded();
    }
    // the session stays open until its response is recorded: an idle close in between would seal it first
    void answer.captured.then(recorded, () => recorded()).finally(() => sessions.leave(session));
  };
  // the error boundary of this request: a bug in one of its callbacks ends it alone
  const guard: Guard = (fn) =>
    guarded((error) => {
      context.logger.error({ err: error, session: session.id, request: admitted.requestId }, 'forwarding failed: a bug in the gateway; ending this request');
      failure = internalErrorReason(error);
      sending.current?.destroy();
      if (!response.headersSent) sendError(response, new GatewayError('KG_INTERNAL'));
      else response.destroy();
      finish(500);
    }, fn);
  const refuse = (refusal: GatewayError) => {
    finish(refusal.status);
    sendError(response, refusal);
  };
  // a watch holds its connection for as long as it runs: from the pool (256 sockets a worker) a few hundred
  // idle watches would leave every other request waiting for a socket
  const connection = admitted.attributes.verb === 'watch' ? 'dedicated' : 'pooled';
  const sending = new ResendingOnRefusal(upstream, request, headers, body, connection, {
    guard,
    // the upstream request's own error (its connection failed, or the API server's answer could not be
    // read), or the refusal it was destroyed with when the grant ended
    error: (error) => {
      if (response.headersSent) return void response.destroy(error);
      refuse(error instanceof GatewayError ? error : new GatewayError('KG_UPSTREAM_UNAVAILABLE', error.message));
    },
    response: (upstreamResponse) => relayResponse(admitted, upstreamResponse, response, { guard, finish, bodySpillDir: context.bodySpillDir }),
    resendFailed: (error) => refuse(refusalFor(error)),
    mayResend: () => !grantEnded,
  });
  let first: ClientRequest;
  try {
    first = await sending.dial(true);
  } catch (error) {
    // nothing was sent (the credentials or the request could not be made): the server answers and logs it
    finish(refusalFor(error).status);
    throw error;
  }
  response.on(
    'close',
    guard(() => {
      if (!response.writableFinished) sending.current?.destroy();
    }),
  );
  releaseGrant = context.grants.watch(
    identity,
    guard((ended: GrantEnded) => {
      grantEnded = ended;
      sending.current?.destroy(new GatewayError(ended.code ?? 'KG_GRANT_INACTIVE', ended.message));
    }),
    session.id,
  );
  if (grantEnded) return;
  sending.transmit(first);
}

type Guard = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => void;

/**
 * The request as sent upstream: once, and once more after a 401 — the API server did not take the
 * gateway's own credentials (expired, revoked; a refused impersonation is a 403) — which the upstream is
 * told of so that it renews them, when the request can be sent again: its body held by the gateway, or none.
 */
class ResendingOnRefusal {
  /** The request in flight. */
  current?: ClientRequest;
  private readonly replayable: boolean;

  constructor(
    private readonly upstream: Upstream,
    private readonly request: IncomingMessage,
    private readonly headers: OutgoingHttpHeaders,
    private readonly body: Buffer | undefined,
    private readonly connection: 'pooled' | 'dedicated',
    private readonly on: { guard: Guard; error(error: Error): void; response(response: IncomingMessage): void; resendFailed(error: unknown): void; mayResend(): boolean },
  ) {
    this.replayable = body !== undefined || !hasBody(request);
  }

  /** An upstream request with its listeners, not yet sent (`transmit`). */
  async dial(resendIfRefused: boolean): Promise<ClientRequest> {
    const sent = await this.upstream.request(this.request.method ?? 'GET', this.request.url ?? '/', this.headers, this.connection);
    this.current = sent;
    const { guard } = this.on;
    sent.on(
      'error',
      guard((error: Error) => {
        if (this.current === sent) this.on.error(error); // else: a refused first attempt, already replaced
      }),
    );
    sent.on(
      'response',
      guard((response: IncomingMessage) => {
        if (response.statusCode !== 401 || !resendIfRefused || !this.replayable || !this.on.mayResend()) return this.on.response(response);
        response.resume();
        this.upstream.refused(sent);
        this.dial(false).then(guard((again: ClientRequest) => this.transmit(again)), guard((error: unknown) => this.on.resendFailed(error)));
      }),
    );
    return sent;
  }

  transmit(sent: ClientRequest): void {
    if (this.body) sent.end(this.body);
    else if (this.replayable) sent.end();
    else pipeline(this.request, sent, () => undefined);
  }
}

/** Whether a request carries a body the gateway has not read (one it must stream rather than hold). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
