/**
 * Forwarding an admitted exec, attach or port-forward: the upgrade is re-originated toward the API
 * server under the caller's impersonated identity, the 101 (or the refusal) relayed, and then bytes
 * flow both ways as they are — kubectl and the API server speak WebSocket or SPDY to each other, so
 * resize, exit codes, half-close and errors behave exactly as direct — except exec/attach output under
 * a policy with masking patterns, which is re-framed masked (streams/output-masking.ts). A copy of each
 * direction, as forwarded, feeds the protocol's decoder (streams/), whose frames go to the recorder and,
 * for stdin, to the policy's command rules; a blocked line or a malformed frame ends that one session.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Admitted } from './admit.js';
import { GatewayError, rawErrorResponse } from './errors.js';
import { upstreamHeaders } from './headers.js';
import type { SessionTable } from './sessions.js';
import { decoderFor, defaultStreamLimits, ProtocolError, type Direction, type NegotiatedProtocol, type StreamFrame } from './streams/frame.js';
import { outputMaskingFor, outputIdleMs } from './streams/output-masking.js';
import { passThroughStreamMasker } from '../policy/masking/masker.js';
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
    const { engine, loaded } = admitted.state;
    const masking = outputMaskingFor(protocol, admitted.attributes.subresource, engine.masking, defaultStreamLimits);
    // what is recorded of stdin is masked too (invariant 9), as a stream: a secret typed key by key is one match
    const stdinRecording = loaded.compiled.recording.stdin ? (engine.masking.masksText ? engine.masking.createStreamMasker() : passThroughStreamMasker) : undefined;
    const guard = new StdinGuard(engine, admitted.attributes);
    void session.recorder.record({ type: 'stream-open', requestId, protocol: protocol.transport === 'websocket' ? `websocket ${protocol.subprotocol}` : `spdy ${protocol.streamProtocol}`, ...(admitted.command ? { command: admitted.command } : {}) });
    let pendingRecords = 0;
    let releaseTimer: NodeJS.Timeout | undefined;
    const shutdown = (reason: string, notice?: Buffer) => {
      clearTimeout(releaseTimer);
      if (notice && !client.destroyed) client.write(notice);
      client.destroy();
      server.destroy();
      end(reason);
    };
    const record = (frame: Pick<StreamFrame, 'direction' | 'channel' | 'data' | 'port'>) => {
      if (frame.data.length === 0) return;
      pendingRecords++;
      void session.recorder
        .record({ type: 'stream', requestId, direction: frame.direction, channel: frame.channel, data: frame.data.toString('base64'), ...(frame.port !== undefined ? { port: frame.port } : {}) })
        .catch((error: Error) => shutdown(`recording failed: ${error.message}`))
        .finally(() => {
          pendingRecords--;
          if (pendingRecords < 16) [client, server].forEach((s) => s.isPaused() && s.resume());
        });
    };
    /** Decodes, records and checks bytes about to be forwarded; false when the session was ended instead. */
    const tap = (direction: Direction, bytes: Buffer) => {
      let frames: StreamFrame[];
      try {
        frames = decoder.push(direction, bytes, Date.now());
      } catch (error) {
        return refuseMalformed(error, direction);
      }
      for (const frame of frames) {
        const stdin = frame.channel === 'stdin' && frame.direction === 'client-to-server';
        if (!stdin) record(frame);
        else if (stdinRecording) record({ ...frame, data: stdinRecording.push(frame.data) });
        if (stdin) {
          const blocked = guard.check(frame.data);
          if (blocked) {
            void session.recorder.record({ type: 'decision', requestId, action: 'Deny', rule: blocked.rule, message: blocked.message }).catch(() => undefined);
            shutdown(`stdin blocked by rule ${blocked.rule}`, decoder.closingNotice(`kubegate: ${blocked.message}`));
            return false;
          }
        }
      }
      // back-pressure: a recorder that falls behind slows the session instead of growing memory
      if (pendingRecords > 64) [client, server].forEach((s) => s.pause());
      return true;
    };
    const refuseMalformed = (error: unknown, direction: Direction): false => {
      if (!(error instanceof ProtocolError)) throw error;
      logger.warn({ err: error, direction }, 'malformed stream frame: ending this session');
      shutdown(`malformed ${direction} frame: ${error.message}`);
      return false;
    };
    /** The bytes kubectl gets from the server: masked where the policy says so, then tapped. */
    const toClient = (bytes: Buffer): Buffer | undefined => {
      let out = bytes;
      if (masking) {
        try {
          out = masking.rewrite(bytes);
        } catch (error) {
          refuseMalformed(error, 'server-to-client');
          return undefined;
        }
        clearTimeout(releaseTimer);
        if (masking.holding()) releaseTimer = setTimeout(releaseHeldOutput, outputIdleMs);
      }
      return out.length === 0 || tap('server-to-client', out) ? out : undefined;
    };
    const releaseHeldOutput = () => {
      const held = masking!.release();
      if (held.length > 0 && !client.destroyed && tap('server-to-client', held)) client.write(held);
    };
    const toServer = (bytes: Buffer): Buffer | undefined => {
      masking?.observeClient(bytes);
      return tap('client-to-server', bytes) ? bytes : undefined;
    };
    client.write(statusLine(response));
    const relay = (from: Duplex, to: Duplex, direction: Direction, convert: (bytes: Buffer) => Buffer | undefined) => {
      const forward = (chunk: Buffer) => {
        const out = convert(chunk);
        if (out === undefined || out.length === 0) return;
        if (!to.write(out)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      };
      from.on('data', forward);
      from.on('end', () => to.end());
      from.on('error', (error) => shutdown(`${direction === 'client-to-server' ? 'client' : 'upstream'} error: ${error.message}`));
      from.on('close', () => {
        clearTimeout(releaseTimer);
        if (stdinRecording) record({ direction: 'client-to-server', channel: 'stdin', data: stdinRecording.flush() });
        to.end();
        end('closed');
      });
      return forward;
    };
    const forwardToClient = relay(server, client, 'server-to-client', toClient);
    const forwardToServer = relay(client, server, 'client-to-server', toServer);
    if (upstreamHead.length > 0) forwardToClient(upstreamHead);
    if (head.length > 0) forwardToServer(head);
  });
  upstreamRequest.end();
}
