/**
 * Plain HTTPS calls to an API server from a kubeconfig, for callers that must send a request exactly as
 * it was recorded (method, path with its query, body bytes and Content-Type) and read any answer, error or
 * not, as status and text: client-node's typed APIs rewrite bodies and throw on errors.
 */
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type * as k8s from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  /** The body as UTF-8 text, and as the bytes it was (a protobuf answer is not text). */
  body: string;
  bytes: Buffer;
  contentType?: string;
}

export class RawKubeClient {
  /** One kept-alive connection for a sequence of calls, not a TLS handshake each. */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly config: k8s.KubeConfig) {}

  close(): void {
    this.agent.destroy();
  }

  /** The API server the kubeconfig's current context names. */
  get server(): string {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    return cluster.server.replace(/\/$/, '');
  }

  /** `headers`: more to send (Impersonate-User and Impersonate-Group for a replay as the recorded identity). */
  async request(method: string, path: string, body?: Buffer, contentType?: string, accept = 'application/json', headers: Record<string, string | string[]> = {}): Promise<RawResponse> {
    const url = new URL(this.server + path);
    const options: RequestOptions = { method, headers: { ...headers, Accept: accept, ...(body ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': String(body.length) } : {}) } };
    await this.config.applyToHTTPSOptions(options);
    options.agent = this.agent; // client-node puts a new Agent here each time; the TLS options stay on the request
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, body: bytes.toString('utf8'), bytes, ...(res.headers['content-type'] ? { contentType: res.headers['content-type'] } : {}) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** GET of a JSON object; undefined when the server answers 404. */
  async getJson<T = Record<string, unknown>>(path: string): Promise<T | undefined> {
    const response = await this.request('GET', path);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status}: ${response.body.slice(0, 200)}`);
    return JSON.parse(response.body) as T;
  }
}
