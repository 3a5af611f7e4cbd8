/**
 * Plain HTTPS calls to an API server from a kubeconfig, for callers that must send a request exactly as
 * it was recorded (method, path with its query, body bytes and Content-Type) and read any answer, error or
 * not, as status and text: client-node's typed APIs rewrite bodies and throw on errors.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type * as k8s from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  body: string;
}

export class RawKubeClient {
  constructor(private readonly config: k8s.KubeConfig) {}

  /** The API server the kubeconfig's current context names. */
  get server(): string {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    return cluster.server.replace(/\/$/, '');
  }

  async request(method: string, path: string, body?: Buffer, contentType?: string): Promise<RawResponse> {
    const url = new URL(this.server + path);
    const options: RequestOptions = { method, headers: { Accept: 'application/json', ...(body ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': String(body.length) } : {}) } };
    await this.config.applyToHTTPSOptions(options);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
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
