/**
 * The API server as the gateway reaches it: its address and CA, the gateway's own credentials (its
 * ServiceAccount token in a cluster, re-read as the kubelet rotates it; a kubeconfig outside, whose exec
 * plugin runs again before its credential expires and when the API server refuses it), and one
 * keep-alive agent so requests reuse TLS connections.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
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
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
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
      const sent = request({
        protocol: 'https:',
        hostname: server.hostname,
        port: server.port || 443,
        method,
        path,
        ca: base.ca,
        cert: base.cert,
        key: base.key,
        servername: base.servername,
        rejectUnauthorized: base.rejectUnauthorized,
        // upgraded connections leave the pool for good: give them their own socket
        agent: which === 'pooled' ? agent : false,
        headers: { ...headers, ...(base.headers as OutgoingHttpHeaders) },
      });
      sentWith.set(sent, base);
      return sent;
    },
  };
}

export type UpstreamResponse = IncomingMessage;
