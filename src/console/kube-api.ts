/**
 * The console's calls to the API server: with its own credential (SubjectAccessReviews, the list of
 * SessionPolicies), or as a viewer — impersonating exactly that `{user, groups}`, so RBAC and admission
 * decide what the viewer reads and writes as if they had called themselves.
 *
 * client-node's generated clients cannot impersonate groups: its KubeConfig knows only `as` (one
 * Impersonate-User header) and its fetch joins repeated headers into one line, which the API server
 * reads as a single group named "a, b". So requests go out through node:https, with the TLS and
 * credential client-node derives from the kubeconfig (`applyToHTTPSOptions`: token files, exec plugins,
 * client certificates) and one `Impersonate-Group` header line per group.
 */
import { request as httpsRequest, Agent, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type * as k8s from '@kubernetes/client-node';
import type { Viewer } from './auth.js';

/** A failed call: the API server's status code and its own message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface KubeCall {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  /** Impersonate this viewer; absent, the console calls as itself. */
  as?: Viewer;
}

const maxResponseBytes = 64 * 1024 * 1024;

export class KubeApi {
  private readonly agents = new Map<string, Agent>();

  constructor(readonly config: k8s.KubeConfig) {
    if (!config.getCurrentCluster()) throw new Error('the kubeconfig names no current cluster');
  }

  async call<T>(call: KubeCall): Promise<T> {
    const cluster = this.config.getCurrentCluster()!;
    const url = new URL(call.path, cluster.server.endsWith('/') ? cluster.server : `${cluster.server}/`);
    const options: RequestOptions = { method: call.method ?? 'GET', headers: {} };
    await this.config.applyToHTTPSOptions(options);
    const headers = options.headers as Record<string, string | string[]>;
    delete headers['Impersonate-User']; // a kubeconfig's own `as`: the console acts as itself or as a viewer, never a third party
    headers.Accept = 'application/json';
    if (call.as) {
      headers['Impersonate-User'] = call.as.user;
      if (call.as.groups.length > 0) headers['Impersonate-Group'] = call.as.groups;
    }
    const body = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
    if (body) {
      headers['Content-Type'] = call.contentType ?? 'application/json';
      headers['Content-Length'] = String(body.length);
    }
    if (url.protocol === 'https:' && !cluster.proxyUrl) options.agent = this.keepAliveAgent(options);
    const { status, text } = await send(url, options, body).catch((error: unknown) => {
      throw new KubeApiError(503, `the API server could not be reached: ${(error as Error).message}`);
    });
    const parsed = parseJson(text);
    if (status >= 400) {
      const statusBody = parsed as Partial<k8s.V1Status> | undefined;
      throw new KubeApiError(status, statusBody?.message ?? `HTTP ${status}: ${text.slice(0, 200)}`, statusBody?.reason);
    }
    return parsed as T;
  }

  /** client-node builds a new Agent per KubeConfig without keep-alive: one kept-alive Agent per TLS identity instead. */
  private keepAliveAgent(options: RequestOptions): Agent {
    const tls = { ca: options.ca, cert: options.cert, key: options.key, servername: options.servername, rejectUnauthorized: options.rejectUnauthorized } as const;
    const key = JSON.stringify([tls.ca, tls.cert, tls.key, tls.servername, tls.rejectUnauthorized].map(String));
    let agent = this.agents.get(key);
    if (!agent) this.agents.set(key, (agent = new Agent({ ...tls, keepAlive: true, maxSockets: 16 })));
    return agent;
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function send(url: URL, options: RequestOptions, body: Buffer | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...options, timeout: 30_000 }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) response.destroy(new Error(`the API server's answer to ${url.pathname} is larger than ${maxResponseBytes} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`the API server did not answer ${url.pathname} within 30 s`)));
    request.on('error', reject);
    request.end(body);
  });
}

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/** What a viewer may do, asked of the API server's authorizer (SubjectAccessReview) and remembered a few seconds. */
export class AccessReviews {
  private readonly answers = new Map<string, { allowed: boolean; until: number; reason: string }>();

  constructor(
    private readonly api: KubeApi,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = 5_000,
  ) {}

  async check(viewer: Viewer, attributes: ResourceAttributes): Promise<{ allowed: boolean; reason: string }> {
    const key = JSON.stringify([viewer.user, [...viewer.groups].sort(), attributes.verb, attributes.group, attributes.resource, attributes.namespace ?? '', attributes.name ?? '']);
    const cached = this.answers.get(key);
    if (cached && cached.until > this.now()) return cached;
    const review = await this.api.call<k8s.V1SubjectAccessReview>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: viewer.user, groups: viewer.groups, resourceAttributes: attributes } },
    });
    const answer = { allowed: review.status?.allowed === true, reason: review.status?.reason ?? '', until: this.now() + this.ttlMs };
    if (this.answers.size > 10_000) this.answers.clear();
    this.answers.set(key, answer);
    return answer;
  }
}

export const sessionsResource = { group: 'kubegate.dev', resource: 'sessions' } as const;
