/**
 * A client of the gateway's live events endpoint (`--events-listen`): an SSE subscription whose events
 * are collected as they arrive, and plain calls (DELETE /sessions/ID), over HTTPS trusting the policy CA.
 */
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import assert from 'node:assert/strict';
import { liveEventsAudience } from '../../src/api/names.js';
import type { Kubectl } from './kubectl.js';
import { uniqueName } from './kubegate-objects.js';
import { eventually } from './workloads.js';

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

/**
 * A ServiceAccount in `namespace`, bound there to `clusterRole` (none: no kubegate role at all), and a
 * token for it bound to the live events audience (the only kind the endpoint accepts).
 */
export async function account(admin: Kubectl, namespace: string, clusterRole?: string): Promise<{ name: string; user: string; token: string }> {
  const name = uniqueName('viewer');
  await admin.ok(['create', 'serviceaccount', name, '-n', namespace]);
  const user = `system:serviceaccount:${namespace}:${name}`;
  if (clusterRole) {
    await admin.ok(['create', 'rolebinding', uniqueName('live'), `--clusterrole=${clusterRole}`, `--serviceaccount=${namespace}:${name}`, '-n', namespace]);
    await boundIn(admin, namespace, user, ['list', 'accessgrants.kubegate.dev']);
  }
  return { name, user, token: (await admin.ok(['create', 'token', name, '-n', namespace, `--audience=${liveEventsAudience}`])).trim() };
}

/** Once the API server's authorizer has a new binding (it reaches it a moment after it is created), `user` may do `what`. */
export async function boundIn(admin: Kubectl, namespace: string, user: string, what: string[]): Promise<void> {
  await eventually(async () => assert.equal((await admin.run(['auth', 'can-i', ...what, '-n', namespace, `--as=${user}`])).stdout.trim(), 'yes'), 10_000, 50);
}
