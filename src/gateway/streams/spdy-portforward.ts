/**
 * port-forward over SPDY (`portforward.k8s.io`): for each local connection kubectl opens an error
 * stream and a data stream, both carrying `streamtype`, `port` and `requestid` headers. Data flows
 * both ways on the data stream; the kubelet writes failures as text on the error stream.
 */
import { ProtocolError } from './decoding.js';
import type { StreamLimits } from './frame.js';
import type { SpdyHeaders } from './spdy-frames.js';
import { bothWays, serverToClient, singleHeader, SpdyStreamDecoder, type SpdyStreamKind } from './spdy-streams.js';

/** As the kubelet reads it: a decimal 16-bit number. */
function parsePort(text: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port <= 0xffff)) throw new ProtocolError(`port-forward stream with port "${text}"`);
  return port;
}

function classify(headers: SpdyHeaders): SpdyStreamKind {
  const type = singleHeader(headers, 'streamtype');
  const port = parsePort(singleHeader(headers, 'port'));
  if (type === 'data') return { channel: 'port-data', writers: bothWays, port };
  if (type === 'error') return { channel: 'port-error', writers: serverToClient, port };
  throw new ProtocolError(`port-forward SPDY stream of unknown type "${type}"`);
}

export class SpdyPortForwardDecoder extends SpdyStreamDecoder {
  constructor(limits: StreamLimits) {
    super({ classify, oneStreamPerChannel: false, errorChannel: 'port-error', errorPayload: (message) => Buffer.from(message) }, limits);
  }
}
