/**
 * A client of the gateway's live events endpoint (`--events-listen`): an SSE subscription whose events
 * are collected as they arrive, and plain calls (DELETE /sessions/ID), over HTTPS trusting the policy CA.
 */
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';

export interface LiveMessage {
  type: string;
  data: Record<string, unknown>;
}

export interface LiveSubscription {
  status: number;
  /** The body of a refused subscription (a Kubernetes Status). */
  body: string;
  /** Every SSE message so far, in order. */
  events: LiveMessage[];
  close(): void;
}

function options(url: string, path: string, ca: string, token: string | undefined, method = 'GET'): RequestOptions {
  const target = new URL(path, url);
  return { hostname: target.hostname, port: target.port, path: target.pathname, method, ca, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} };
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    response.on('end', () => resolve(body));
    response.on('error', reject);
  });
}

/** GET /events: resolves once the answer's headers are in; events keep arriving in `events`. */
export function subscribeLive(url: string, ca: string, token?: string): Promise<LiveSubscription> {
  return new Promise((resolve, reject) => {
    const req = request(options(url, '/events', ca, token), (response) => {
      const status = response.statusCode ?? 0;
      const subscription: LiveSubscription = { status, body: '', events: [], close: () => req.destroy() };
      if (status !== 200) return void readBody(response).then((body) => resolve({ ...subscription, body }), reject);
      let buffer = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const lines = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const type = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
          const data = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length);
          if (type && data) subscription.events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
      });
      response.on('error', () => undefined);
      resolve(subscription);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One call to the endpoint: its status and body. */
export function liveCall(url: string, ca: string, method: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(options(url, path, ca, token, method), (response) => void readBody(response).then((body) => resolve({ status: response.statusCode ?? 0, body }), reject));
    req.on('error', reject);
    req.end();
  });
}
