/**
 * Forwarding an admitted exec, attach or port-forward: the upgrade is re-originated toward the API
 * server under the caller's impersonated identity, the 101 (or the refusal) relayed, and then bytes
 * flow both ways unchanged — kubectl and the API server speak WebSocket or SPDY to each other, so
 * resize, exit codes, half-close and errors behave exactly as direct. A copy of each direction feeds
 * the protocol's decoder (streams/), whose frames go to the recorder and, for stdin, to the policy's
 * command rules; a blocked line or a malformed frame ends that one session.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Admitted } from './admit.js';
import { GatewayError, rawErrorResponse } from './errors.js';
import { upstreamHeaders } from './headers.js';
import type { SessionTable } from './sessions.js';
import { decoderFor, ProtocolError, type Direction, type NegotiatedProtocol, type StreamFrame } from './streams/frame.js';
import { StdinGuard } from './stdin-guard.js';
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

export async function forwardUpgrade(
  admitted: Admitted,
  request: IncomingMessage,
  client: Duplex,
  head: Buffer,
  context: { upstream: Upstream; sessions: SessionTable; logger: Logger },
): Promise<void> {
  const { session, requestId, identity } = admitted;
  const logger = context.logger.child({ session: session.id, request: requestId });
  let closed = false;
  const end = (reason: string) => {
    if (closed) return;
    closed = true;
    context.sessions.leave(session);
    void session.recorder.record({ type: 'stream-close', requestId, reason }).catch(() => undefined);
  };
  const upstreamRequest = await context.upstream.request(request.method ?? 'GET', request.url ?? '/', upstreamHeaders(request.headers, identity, session.id, { upgrade: true }), 'dedicated');
  upstreamRequest.on('error', (error) => {
    logger.warn({ err: error }, 'upstream upgrade failed');
    if (!client.destroyed) client.end(rawErrorResponse(new GatewayError('KG_UPSTREAM_UNAVAILABLE', error.message)));
    end(`upstream error: ${error.message}`);
  });
  // the API server refused the upgrade (403, 404, 400 …): relay its answer as it is
  upstreamRequest.on('response', (response) => {
    client.write(statusLine(response));
    response.pipe(client);
    response.on('end', () => end(`upstream answered ${response.statusCode}`));
  });
  upstreamRequest.on('upgrade', (response, server, upstreamHead) => {
    const protocol = negotiated(response.headers, admitted);
    const decoder = decoderFor(protocol);
    const guard = new StdinGuard(admitted.state.engine, admitted.attributes);
    void session.recorder.record({ type: 'stream-open', requestId, protocol: protocol.transport === 'websocket' ? `websocket ${protocol.subprotocol}` : `spdy ${protocol.streamProtocol}`, ...(admitted.command ? { command: admitted.command } : {}) });
    let pendingRecords = 0;
    const shutdown = (reason: string, notice?: Buffer) => {
      if (notice && !client.destroyed) client.write(notice);
      client.destroy();
      server.destroy();
      end(reason);
    };
    const tap = (direction: Direction, bytes: Buffer) => {
      let frames: StreamFrame[];
      try {
        frames = decoder.push(direction, bytes, Date.now());
      } catch (error) {
        if (error instanceof ProtocolError) {
          logger.warn({ err: error, direction }, 'malformed stream frame: ending this session');
          shutdown(`malformed ${direction} frame: ${error.message}`);
          return false;
        }
        throw error;
      }
      for (const frame of frames) {
        pendingRecords++;
        void session.recorder
          .record({ type: 'stream', requestId, direction: frame.direction, channel: frame.channel, data: frame.data.toString('base64'), ...(frame.port !== undefined ? { port: frame.port } : {}) })
          .catch((error: Error) => shutdown(`recording failed: ${error.message}`))
          .finally(() => {
            pendingRecords--;
            if (pendingRecords < 16) [client, server].forEach((s) => s.isPaused() && s.resume());
          });
        if (frame.channel === 'stdin' && frame.direction === 'client-to-server') {
          const blocked = guard.check(frame.data);
          if (blocked) {
            void session.recorder.record({ type: 'decision', requestId, action: 'Deny', rule: blocked.rule, message: blocked.message }).catch(() => undefined);
            shutdown(`stdin blocked by rule ${blocked.rule}`, decoder.closingNotice?.(`kubegate: ${blocked.message}`));
            return false;
          }
        }
      }
      // back-pressure: a recorder that falls behind slows the session instead of growing memory
      if (pendingRecords > 64) [client, server].forEach((s) => s.pause());
      return true;
    };
    client.write(statusLine(response));
    if (upstreamHead.length > 0 && tap('server-to-client', upstreamHead)) client.write(upstreamHead);
    if (head.length > 0 && tap('client-to-server', head)) server.write(head);
    const relay = (from: Duplex, to: Duplex, direction: Direction) => {
      from.on('data', (chunk: Buffer) => {
        if (!tap(direction, chunk)) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => to.end());
      from.on('error', (error) => shutdown(`${direction === 'client-to-server' ? 'client' : 'upstream'} error: ${error.message}`));
      from.on('close', () => {
        to.end();
        end('closed');
      });
    };
    relay(client, server, 'client-to-server');
    relay(server, client, 'server-to-client');
  });
  upstreamRequest.end();
}
