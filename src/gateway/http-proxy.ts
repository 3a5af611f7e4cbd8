/**
 * Forwarding an admitted plain request: upstream under the caller's impersonated identity, the response
 * streamed back (masked where the policy says, never buffered whole), request and response recorded —
 * the response body up to the policy's cap, with the cap noted. A request still running when its grant
 * leaves Active (a watch, `logs -f`) is cut off: the client gets the refusal if nothing was sent yet, a
 * broken response otherwise (never one that looks complete), and a `stream-close` records why. Every
 * callback of the forwarding runs in its error boundary (guarded.ts): an unexpected exception ends this
 * request (KG_INTERNAL, or a broken response once headers are out), logged, and never the process.
 */
import { Transform, pipeline } from 'node:stream';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Admitted } from './admit.js';
import type { Logger } from 'pino';
import { GatewayError, refusalFor, sendError } from './errors.js';
import type { GrantEnded, GrantWatch } from './grant-watch.js';
import { guarded, internalErrorReason } from './guarded.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { preferJson, responseMasking } from '../policy/masking/bodies.js';
import type { SessionTable } from './sessions.js';
import type { Upstream } from './upstream.js';
import { recordedBody, type RecordedBody } from '../util/recorded-body.js';

/** Passes bytes through, keeping the first `cap` of them for the recording (as text or base64, by their type). */
function recordingTap(cap: number, contentType: string | undefined): Transform & { captured(): RecordedBody } {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (keptBytes < cap) {
        const part = chunk.subarray(0, cap - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
      done(null, chunk);
    },
  });
  return Object.assign(tap, { captured: () => recordedBody(Buffer.concat(kept), total, contentType) });
}

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
}

type Finish = (status: number, answer?: { contentType?: string; captured?: RecordedBody }) => void;

/** The API server's answer to the client: masked where the policy says so, and tapped for the recording as it streams. */
function relayResponse(admitted: Admitted, upstreamResponse: IncomingMessage, response: ServerResponse, request: { guard: <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => void; finish: Finish }): void {
  const status = upstreamResponse.statusCode ?? 502;
  const masking = responseMasking(admitted.masking, admitted.attributes, upstreamResponse.headers);
  const outgoing = downstreamHeaders(upstreamResponse.headers);
  if (masking) delete outgoing['content-length'];
  response.writeHead(status, outgoing);
  response.flushHeaders(); // watches and `logs -f` must see headers before the first event
  const contentType = upstreamResponse.headers['content-type'];
  const tap = recordingTap(admitted.state.loaded.compiled.recording.maxBodyBytes, contentType);
  const stages = masking ? [upstreamResponse, masking, tap, response] : [upstreamResponse, tap, response];
  pipeline(
    stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream],
    request.guard((error: Error | null) => {
      if (error && !response.destroyed) response.destroy(error);
      request.finish(status, { ...(contentType ? { contentType } : {}), captured: tap.captured() });
    }),
  );
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
  const finish = (status: number, answer: { contentType?: string; captured?: RecordedBody } = {}) => {
    if (finished) return;
    finished = true;
    releaseGrant();
    sessions.leave(session);
    recordResponse(admitted, { status, durationMs: Date.now() - started, ...answer }, grantEnded?.reason ?? failure);
  };
  let upstreamRequest: ClientRequest | undefined;
  // the error boundary of this request: a bug in one of its callbacks ends it alone
  const guard = <A extends unknown[], R>(fn: (...args: A) => R) =>
    guarded((error) => {
      context.logger.error({ err: error, session: session.id, request: admitted.requestId }, 'forwarding failed: a bug in the gateway; ending this request');
      failure = internalErrorReason(error);
      upstreamRequest?.destroy();
      if (!response.headersSent) sendError(response, new GatewayError('KG_INTERNAL'));
      else response.destroy();
      finish(500);
    }, fn);
  // a request whose body the gateway holds, or that has none, can be sent a second time
  const replayable = body !== undefined || !hasBody(request);
  const transmit = (sent: ClientRequest) => {
    if (body) sent.end(body);
    else if (replayable) sent.end();
    else pipeline(request, sent, () => undefined);
  };
  const dial = async (retryIfRefused: boolean): Promise<ClientRequest> => {
    const sent = await upstream.request(request.method ?? 'GET', request.url ?? '/', headers);
    upstreamRequest = sent;
    // the upstream request's own error (its connection failed, or the API server's answer could not be
    // read), or the refusal it was destroyed with when the grant ended
    sent.on(
      'error',
      guard((error: Error) => {
        if (upstreamRequest !== sent) return; // a refused first attempt, already replaced
        if (response.headersSent) return void response.destroy(error);
        const refusal = error instanceof GatewayError ? error : new GatewayError('KG_UPSTREAM_UNAVAILABLE', error.message);
        finish(refusal.status);
        sendError(response, refusal);
      }),
    );
    sent.on(
      'response',
      guard((upstreamResponse: IncomingMessage) => {
        if (upstreamResponse.statusCode !== 401 || !retryIfRefused || !replayable || grantEnded) return relayResponse(admitted, upstreamResponse, response, { guard, finish });
        // the API server did not take the gateway's own credentials (expired, revoked): renew them, once
        upstreamResponse.resume();
        upstream.refused(sent);
        dial(false).then(guard(transmit), guard((error: unknown) => {
          const refusal = refusalFor(error);
          finish(refusal.status);
          sendError(response, refusal);
        }));
      }),
    );
    return sent;
  };
  let first: ClientRequest;
  try {
    first = await dial(true);
  } catch (error) {
    // nothing was sent (the credentials or the request could not be made): the server answers and logs it
    finish(refusalFor(error).status);
    throw error;
  }
  response.on(
    'close',
    guard(() => {
      if (!response.writableFinished) upstreamRequest?.destroy();
    }),
  );
  releaseGrant = context.grants.watch(
    identity,
    guard((ended: GrantEnded) => {
      grantEnded = ended;
      upstreamRequest?.destroy(new GatewayError(ended.code ?? 'KG_GRANT_INACTIVE', ended.message));
    }),
    session.id,
  );
  if (grantEnded) return;
  transmit(first);
}

/** Whether a request carries a body the gateway has not read (one it must stream rather than hold). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
