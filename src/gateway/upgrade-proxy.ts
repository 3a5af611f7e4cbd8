/**
 * Forwarding an admitted exec, attach or port-forward: the upgrade is re-originated toward the API
 * server under the caller's impersonated identity and its answer relayed. A refusal (403, 404, 400 …)
 * goes to kubectl as it is; a 101 hands both sockets to a `StreamSession` (stream-session.ts) with the
 * reader of the negotiated protocol. kubectl and the API server speak WebSocket or SPDY to each other
 * through it, so resize, exit codes, half-close and errors behave exactly as direct. Before the 101 as
 * after it, the request ends once its grant leaves Active (grant-watch.ts). Each callback runs in the
 * request's error boundary (guarded.ts): an unexpected exception ends this request or its stream only.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { finished, type Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { maskedCommand } from '../policy/masking/request-target.js';
import type { Admitted } from './admit.js';
import { GatewayError, rawErrorResponse, refusalFor } from './errors.js';
import type { GrantEnded, GrantWatch } from './grant-watch.js';
import { guarded, internalErrorReason } from './guarded.js';
import { upstreamHeaders } from './headers.js';
import type { SessionTable } from './sessions.js';
import { StdinGuard } from './stdin-guard.js';
import { StreamSession, type StreamRecording } from './stream-session.js';
import { decoderFor, ProtocolError, type NegotiatedProtocol, type StreamDecoder } from './streams/frame.js';
import type { Upstream } from './upstream.js';
/** What the 101 says was agreed, plus what the request says it is for (v4.channel serves exec and port-forward alike). */
function negotiated(headers: IncomingHttpHeaders, admitted: Admitted): NegotiatedProtocol {
  const upgrade = String(headers.upgrade ?? '').toLowerCase();
  if (upgrade !== 'websocket') return { transport: 'spdy', streamProtocol: String(headers['x-stream-protocol-version'] ?? '') };
  const subresource = admitted.attributes.subresource;
  const ports = (admitted.attributes.query['ports'] ?? []).flatMap((value) => value.split(',')).map(Number).filter(Number.isInteger);
  return {
    transport: 'websocket',
    subprotocol: String(headers['sec-websocket-protocol'] ?? ''),
    ...(subresource === 'exec' || subresource === 'attach' || subresource === 'portforward' ? { subresource } : {}),
    ...(ports.length > 0 ? { ports } : {}),
  };
}

function statusLine(response: IncomingMessage): string {
  let text = `HTTP/1.1 ${response.statusCode} ${response.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < response.rawHeaders.length; i += 2) text += `${response.rawHeaders[i]}: ${response.rawHeaders[i + 1]}\r\n`;
  return text + '\r\n';
}

/** What is recorded of the stream, as the policy in force when it opened says. */
function streamRecording(admitted: Admitted, protocol: NegotiatedProtocol): StreamRecording {
  const { masking } = admitted;
  const { recording } = admitted.state.loaded.compiled;
  return {
    recorder: admitted.session.recorder,
    requestId: admitted.requestId,
    failClosed: recording.onStoreFailure === 'FailClosed',
    // what is recorded of stdin is masked too (invariant 9), as a stream: a secret typed key by key is one match
    ...(recording.stdin ? { stdin: masking.createInputMasker() } : {}),
    protocol: protocol.transport === 'websocket' ? `websocket ${protocol.subprotocol}` : `spdy ${protocol.streamProtocol}`,
    ...(admitted.command ? { command: maskedCommand(masking, admitted.command) } : {}),
  };
}

/**
 * The reader of the negotiated protocol, exec and attach output masked with the policy's patterns; or
 * why kubegate cannot read a protocol the API server agreed to (such a stream is refused, never relayed unread).
 */
function streamReader(admitted: Admitted, protocol: NegotiatedProtocol): StreamDecoder | ProtocolError {
  const { subresource } = admitted.attributes;
  try {
    return decoderFor(protocol, subresource === 'exec' || subresource === 'attach' ? { outputMasker: admitted.masking } : {});
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
}

export interface UpgradeContext {
  upstream: Upstream;
  sessions: SessionTable;
  /** Ends the stream once its grant leaves Active (invariant 11). */
  grants: GrantWatch;
  logger: Logger;
}

export async function forwardUpgrade(admitted: Admitted, request: IncomingMessage, client: Duplex, head: Buffer, context: UpgradeContext): Promise<void> {
  await new UpgradeForwarding(admitted, client, context).forward(request, head);
}

/** The API server refused the upgrade (403, 404, 400 …): its answer goes to the client as it is. */
function relayRefusal(response: IncomingMessage, client: Duplex, done: () => void): void {
  client.write(statusLine(response));
  response.pipe(client);
  finished(response, (error) => {
    if (error) client.destroy();
    done();
  });
}

/**
 * One upgrade, from the request to the API server until its stream ends or it never opens. Every way it
 * ends — refused, failed, abandoned by the client, its grant ended, or its stream over — lets the request
 * go from the session table once, and stops watching its grant.
 */
class UpgradeForwarding {
  private readonly logger: Logger;
  private upstreamRequest?: ClientRequest;
  private stream?: StreamSession;
  /** The stream opened, or the request ended without one. */
  private settled = false;
  /** The API server's refusal is being relayed: the client has its status line. */
  private relaying = false;
  private releaseGrant = (): void => undefined;
  /** `fn` inside this request's error boundary. */
  private readonly guard = <A extends unknown[], R>(fn: (...args: A) => R) => guarded((error) => this.fail(error), fn);

  constructor(
    private readonly admitted: Admitted,
    private readonly client: Duplex,
    private readonly context: UpgradeContext,
  ) {
    this.logger = context.logger.child({ session: admitted.session.id, request: admitted.requestId });
  }

  async forward(request: IncomingMessage, head: Buffer): Promise<void> {
    const { session, identity } = this.admitted;
    try {
      await this.dial(request, head, true);
    } catch (error) {
      // nothing was sent (the gateway's credentials could not be read): the server answers the client
      this.endUnopened(`upstream request failed: ${(error as Error).message}`);
      throw error;
    }
    // the client went away before the stream opened: nothing will read the API server's answer
    this.client.once(
      'close',
      this.guard(() => this.endUnopened('the client closed the connection before the stream opened')),
    );
    this.releaseGrant = this.context.grants.watch(
      identity,
      this.guard((ended: GrantEnded) => {
        const refusal = new GatewayError(ended.code ?? 'KG_GRANT_INACTIVE', ended.message);
        if (this.stream) this.stream.end(ended.reason, `kubegate: ${refusal.message}`);
        else this.endUnopened(ended.reason, refusal);
      }),
      session.id,
    );
    if (!this.settled) this.upstreamRequest!.end();
  }

  /** The upstream request, with its listeners; not yet ended. A 401 to it (the gateway's own credentials refused) is tried once more. */
  private async dial(request: IncomingMessage, head: Buffer, retryIfRefused: boolean): Promise<void> {
    const { session, identity } = this.admitted;
    const upstreamRequest = await this.context.upstream.request(request.method ?? 'GET', request.url ?? '/', upstreamHeaders(request.headers, identity, session.id, { upgrade: true }), 'dedicated');
    this.upstreamRequest = upstreamRequest;
    upstreamRequest.on(
      'error',
      this.guard((error: Error) => {
        if (this.upstreamRequest !== upstreamRequest) return; // a refused first attempt, already replaced
        if (this.stream) this.stream.end(`upstream error: ${error.message}`);
        else if (!this.settled) {
          this.logger.warn({ err: error }, 'upstream upgrade failed');
          this.endUnopened(`upstream error: ${error.message}`, new GatewayError('KG_UPSTREAM_UNAVAILABLE', error.message));
        }
      }),
    );
    upstreamRequest.on(
      'response',
      this.guard((response: IncomingMessage) => {
        if (response.statusCode === 401 && retryIfRefused && !this.settled) return this.redial(request, head, upstreamRequest, response);
        this.relaying = true;
        relayRefusal(response, this.client, this.guard(() => this.endUnopened(`upstream answered ${response.statusCode}`)));
      }),
    );
    upstreamRequest.on(
      'upgrade',
      this.guard((response: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => this.open(response, upstream, { client: head, upstream: upstreamHead })),
    );
  }

  /** The API server refused the gateway's own credentials: renew them and ask once more. */
  private redial(request: IncomingMessage, head: Buffer, refused: ClientRequest, response: IncomingMessage): void {
    response.resume();
    this.context.upstream.refused(refused);
    this.dial(request, head, false).then(
      this.guard(() => {
        if (!this.settled) this.upstreamRequest!.end();
        else this.upstreamRequest!.destroy();
      }),
      this.guard((error: unknown) => this.endUnopened(`upstream request failed: ${(error as Error).message}`, refusalFor(error))),
    );
  }

  /** The API server switched protocols: the stream session takes both sockets, if kubegate can read the protocol. */
  private open(response: IncomingMessage, upstream: Duplex, heads: { client: Buffer; upstream: Buffer }): void {
    const protocol = negotiated(response.headers, this.admitted);
    const reader = streamReader(this.admitted, protocol);
    if (reader instanceof ProtocolError) {
      upstream.destroy();
      this.endUnopened(`unreadable stream protocol: ${reader.message}`, new GatewayError('KG_BAD_REQUEST', reader.message));
      return;
    }
    this.settled = true;
    this.client.write(statusLine(response));
    this.stream = new StreamSession({
      client: this.client,
      upstream,
      reader,
      recording: streamRecording(this.admitted, protocol),
      guard: new StdinGuard(this.admitted.state.engine, this.admitted.attributes),
      onEnd: () => this.leave(),
      logger: this.logger,
    });
    this.stream.start(heads);
  }

  /**
   * The end of a request whose stream never opened, however it ends: the upstream request stops, the
   * request leaves the session table, the recording says why, and the client gets `answer` unless it
   * already has one (then its connection breaks).
   */
  private endUnopened(reason: string, answer?: GatewayError): void {
    if (this.settled) return;
    this.settled = true;
    this.leave();
    this.upstreamRequest?.destroy();
    if (answer && !this.relaying && this.client.writable) this.client.end(rawErrorResponse(answer));
    else if (answer) this.client.destroy();
    void this.admitted.session.recorder.record({ type: 'stream-close', requestId: this.admitted.requestId, reason }).catch(() => undefined);
  }

  /** A callback of this request threw where nothing expected it: the stream, or the request, ends; the error is logged. */
  private fail(error: unknown): void {
    if (this.stream) return this.stream.fail(error);
    this.logger.error({ err: error }, 'upgrade failed: a bug in the gateway; ending this request');
    if (this.settled) {
      // the stream was being opened when it failed: nothing else will let the request go or close the sockets
      this.leave();
      this.upstreamRequest?.destroy();
      this.client.destroy();
      return;
    }
    this.endUnopened(internalErrorReason(error), new GatewayError('KG_INTERNAL'));
  }

  private leave(): void {
    this.releaseGrant();
    this.context.sessions.leave(this.admitted.session);
  }
}
