/**
 * exec and attach over SPDY (`X-Stream-Protocol-Version` channel.k8s.io … v5.channel.k8s.io): kubectl
 * opens one stream per channel, naming it in the `streamtype` header (Go lower-cases header names
 * on the wire). Its error stream carries plain text up to v3 and a `metav1.Status` from v4 on; over
 * SPDY, v5 behaves as v4 (stdin is half-closed with FIN, which SPDY always had).
 */
import type { Masker } from '../../policy/masking/masker.js';
import { forbiddenStatus, ProtocolError } from './decoding.js';
import type { StreamLimits } from './frame.js';
import type { SpdyHeaders } from './spdy-frames.js';
import { clientToServer, serverToClient, singleHeader, SpdyStreamDecoder, type SpdyStreamKind } from './spdy-streams.js';

/** Stream protocol → whether its error stream carries a Status. */
const statusErrors = new Map<string, boolean>([
  ['channel.k8s.io', false],
  ['v2.channel.k8s.io', false],
  ['v3.channel.k8s.io', false],
  ['v4.channel.k8s.io', true],
  ['v5.channel.k8s.io', true],
]);

const streamKinds = new Map<string, SpdyStreamKind>([
  ['stdin', { channel: 'stdin', writers: clientToServer }],
  ['stdout', { channel: 'stdout', writers: serverToClient }],
  ['stderr', { channel: 'stderr', writers: serverToClient }],
  ['error', { channel: 'error', writers: serverToClient }],
  ['resize', { channel: 'resize', writers: clientToServer }],
]);

function classify(headers: SpdyHeaders): SpdyStreamKind {
  const type = singleHeader(headers, 'streamtype');
  const kind = streamKinds.get(type);
  if (!kind) throw new ProtocolError(`exec SPDY stream of unknown type "${type}"`);
  return kind;
}

export class SpdyRemoteCommandDecoder extends SpdyStreamDecoder {
  constructor(streamProtocol: string, limits: StreamLimits, outputMasker?: Masker) {
    const status = statusErrors.get(streamProtocol);
    if (status === undefined) throw new ProtocolError(`unsupported SPDY stream protocol "${streamProtocol}"`);
    super({ classify, oneStreamPerChannel: true, errorChannel: 'error', errorPayload: (message) => (status ? forbiddenStatus(message) : Buffer.from(message)) }, limits, outputMasker);
  }
}
