/**
 * The API server as the gateway reaches it: its address and CA, the gateway's own credentials (its
 * ServiceAccount token in a cluster, re-read as the kubelet rotates it; a kubeconfig outside), and one
 * keep-alive agent so requests reuse TLS connections.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import * as k8s from '@kubernetes/client-node';

export interface Upstream {
  /** An upstream request for `path` with the gateway's credentials plus `headers`. */
  request(method: string, path: string, headers: OutgoingHttpHeaders, agent?: 'pooled' | 'dedicated'): Promise<ClientRequest>;
  kubeconfig: k8s.KubeConfig;
}

export function connectUpstream(kubeconfig: k8s.KubeConfig): Upstream {
  const server = new URL(kubeconfig.getCurrentCluster()!.server);
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
  let credentials: { at: number; options: RequestOptions } | undefined;
  const credentialOptions = async (): Promise<RequestOptions> => {
    // re-read at most every 30 s: projected ServiceAccount tokens rotate on disk
    if (!credentials || Date.now() - credentials.at > 30_000) {
      const options: RequestOptions = {};
      await kubeconfig.applyToHTTPSOptions(options);
      credentials = { at: Date.now(), options };
    }
    return credentials.options;
  };
  return {
    kubeconfig,
    async request(method, path, headers, which = 'pooled') {
      const base = await credentialOptions();
      return request({
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
    },
  };
}

export type UpstreamResponse = IncomingMessage;
