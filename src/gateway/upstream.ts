/**
 * The API server as the gateway reaches it: its address and CA, the gateway's own credentials (its
 * ServiceAccount token in a cluster, re-read as the kubelet rotates it; a kubeconfig outside, whose exec
 * plugin runs again before its credential expires and when the API server refuses it), and one
 * keep-alive agent so requests reuse TLS connections.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { KubeConnection } from '../kube/connection.js';

export interface Upstream {
  /** An upstream request for `path` with the gateway's credentials plus `headers`. */
  request(method: string, path: string, headers: OutgoingHttpHeaders, agent?: 'pooled' | 'dedicated'): Promise<ClientRequest>;
  /**
   * The API server answered `request` 401: it did not accept the gateway's own credentials (a refused
   * impersonation is a 403). The next request reads them afresh — an exec plugin runs again.
   */
  refused(request: ClientRequest): void;
}

export function connectUpstream(kubeconfig: KubeConnection, now: () => number = Date.now): Upstream {
  const server = new URL(kubeconfig.server);
  const pool = new TlsPool();
  const exec = kubeconfig.exec;
  let credentials: { until: number; options: RequestOptions } | undefined;
  const sentWith = new WeakMap<ClientRequest, RequestOptions>();
  const credentialOptions = async (): Promise<RequestOptions> => {
    // re-read at most every 30 s (projected ServiceAccount tokens rotate on disk), and when an exec
    // plugin's credential is due for renewal
    if (!credentials || now() >= credentials.until) {
      const options: RequestOptions = {};
      await kubeconfig.applyToHTTPSOptions(options);
      credentials = { until: Math.min(now() + 30_000, exec?.refreshAt() ?? Infinity), options };
    }
    return credentials.options;
  };
  return {
    refused(request) {
      const options = sentWith.get(request);
      if (!options) return;
      if (credentials?.options === options) credentials = undefined;
      exec?.refused((options.headers as OutgoingHttpHeaders | undefined)?.['Authorization'] as string | undefined);
    },
    async request(method, path, headers, which = 'pooled') {
      const base = await credentialOptions();
      const { agent, secureContext } = pool.for(base);
      // a secure context is a tls.connect option the agent passes on; https' own type does not list it
      const options: RequestOptions & Pick<ConnectionOptions, 'secureContext'> = {
        protocol: 'https:',
        hostname: server.hostname,
        port: server.port || 443,
        method,
        path,
        secureContext,
        servername: base.servername,
        rejectUnauthorized: base.rejectUnauthorized,
        // upgraded connections leave the pool for good: give them their own socket
        agent: which === 'pooled' ? agent : false,
        headers: { ...headers, ...(base.headers as OutgoingHttpHeaders) },
      };
      const sent = request(options);
      sentWith.set(sent, base);
      return sent;
    },
  };
}

type TlsMaterial = Pick<RequestOptions, 'ca' | 'cert' | 'key'>;

/**
 * The keep-alive agent and the TLS context of the credentials in use. The CA, certificate and key go in
 * a secure context made once, not in each request's options: Node's agent names its socket pools by
 * those options, so each request built (and hashed, and compared in full) a name holding the PEM texts,
 * several times over (a few per cent of the gateway's CPU per request). When the material changes (a
 * new client certificate from an exec plugin), a new agent takes new requests, and the old one's
 * connections close as their requests end (as client-go closes its connections when a certificate
 * rotates), never reused with other credentials.
 */
class TlsPool {
  private current?: { options: RequestOptions; material: TlsMaterial; agent: Agent; secureContext: SecureContext };

  /** The agent and context for credentials `options` (the same object until they are read again). */
  for(options: RequestOptions): { agent: Agent; secureContext: SecureContext } {
    if (this.current?.options === options) return this.current;
    const material: TlsMaterial = { ca: options.ca, cert: options.cert, key: options.key };
    if (this.current && sameMaterial(this.current.material, material)) {
      this.current.options = options;
      return this.current;
    }
    if (this.current) retire(this.current.agent);
    this.current = { options, material, agent: new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' }), secureContext: createSecureContext(material) };
    return this.current;
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return samePem(a.ca, b.ca) && samePem(a.cert, b.cert) && samePem(a.key, b.key);
}

/** The credentials are re-read every 30 s into new buffers: the same bytes are the same material. */
function samePem(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((each, at) => samePem(each, b[at]));
  if (typeof a === 'string' || Buffer.isBuffer(a)) return (typeof b === 'string' || Buffer.isBuffer(b)) && Buffer.from(a).equals(Buffer.from(b));
  return a === b;
}

/** An agent no longer given requests: its idle connections closed now, its busy ones when their requests end. */
function retire(agent: Agent): void {
  agent.maxFreeSockets = 0;
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

export type UpstreamResponse = IncomingMessage;
