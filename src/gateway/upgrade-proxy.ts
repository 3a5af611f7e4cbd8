/**
 * Forwarding an admitted exec, attach or port-forward: the upgrade is re-originated toward the API
 * server under the caller's impersonated identity and its answer relayed. A refusal (403, 404, 400 …)
 * goes to kubectl as it is; a 101 hands both sockets to a `StreamSession` (stream-session.ts) with the
 * reader of the negotiated protocol. kubectl and the API server speak WebSocket or SPDY to each other
 * through it, so resize, exit codes, half-close and errors behave exactly as direct.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { maskedCommand } from '../policy/masking/request-target.js';
import type { Admitted } from './admit.js';
import { GatewayError, rawErrorResponse } from './errors.js';
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

export async function forwardUpgrade(
  admitted: Admitted,
  request: IncomingMessage,
  client: Duplex,
  head: Buffer,
  context: { upstream: Upstream; sessions: SessionTable; logger: Logger },
): Promise<void> {
  const { session, requestId, identity } = admitted;
  const logger = context.logger.child({ session: session.id, request: requestId });
  let stream: StreamSession | undefined;
  let settled = false;
  /** The end of a request whose stream never opened: it leaves the session table, and the recording says why. */
  const endUnopened = (reason: string) => {
    if (settled) return;
    settled = true;
    context.sessions.leave(session);
    void session.recorder.record({ type: 'stream-close', requestId, reason }).catch(() => undefined);
  };
  const upstreamRequest = await context.upstream.request(request.method ?? 'GET', request.url ?? '/', upstreamHeaders(request.headers, identity, session.id, { upgrade: true }), 'dedicated');
  upstreamRequest.on('error', (error) => {
    if (stream) {
      stream.end(`upstream error: ${error.message}`);
      return;
    }
    logger.warn({ err: error }, 'upstream upgrade failed');
    if (!client.destroyed) client.end(rawErrorResponse(new GatewayError('KG_UPSTREAM_UNAVAILABLE', error.message)));
    endUnopened(`upstream error: ${error.message}`);
  });
  // the API server refused the upgrade (403, 404, 400 …): relay its answer as it is
  upstreamRequest.on('response', (response) => {
    client.write(statusLine(response));
    response.pipe(client);
    response.on('end', () => endUnopened(`upstream answered ${response.statusCode}`));
  });
  upstreamRequest.on('upgrade', (response, upstream, upstreamHead) => {
    const protocol = negotiated(response.headers, admitted);
    const reader = streamReader(admitted, protocol);
    if (reader instanceof ProtocolError) {
      upstream.destroy();
      client.end(rawErrorResponse(new GatewayError('KG_BAD_REQUEST', reader.message)));
      endUnopened(`unreadable stream protocol: ${reader.message}`);
      return;
    }
    settled = true;
    client.write(statusLine(response));
    stream = new StreamSession({
      client,
      upstream,
      reader,
      recording: streamRecording(admitted, protocol),
      guard: new StdinGuard(admitted.state.engine, admitted.attributes),
      onEnd: () => context.sessions.leave(session),
      logger,
    });
    stream.start({ client: head, upstream: upstreamHead });
  });
  upstreamRequest.end();
}
