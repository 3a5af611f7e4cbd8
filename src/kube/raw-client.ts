/**
 * Plain HTTPS calls to an API server, over node:https with one keep-alive agent: what the gateway needs
 * of the Kubernetes API (GET, LIST, WATCH, CREATE, PATCH, with the API server's own status on failure)
 * without @kubernetes/client-node, whose ~870 generated modules cost a process ~90 MiB of memory when
 * loaded. Also for callers that must send a request exactly as it was recorded (method, path with its
 * query, body bytes and Content-Type) and read any answer, error or not, as status and text.
 */
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * Where the API server is and how to authenticate to it: client-node's `KubeConfig` (replay, the
 * operator), or the gateway's own `KubeConnection` (connection.ts).
 */
export interface KubeEndpoint {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

export interface RawResponse {
  status: number;
  /** The body as UTF-8 text, and as the bytes it was (a protobuf answer is not text). */
  body: string;
  bytes: Buffer;
  contentType?: string;
}

/** An answer other than 2xx, with the API server's own message when it sent a `Status`. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';

  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${statusMessage(body)}`);
  }
}

/**
 * The URL of `path` on `server`, refused unless its path is the one written: a name taken from someone's
 * object (a subject's namespace) that held a `#`, a `?` or a `.`/`..` segment would otherwise send the
 * request elsewhere — URL resolution folds the segments and drops the fragment, with the query behind it
 * (a label selector). Callers encode each segment; this is the last check.
 */
export function sentAsWritten(server: string, path: string): URL {
  const root = server.replace(/\/$/, '');
  const url = new URL(root + path);
  const [written, ...query] = path.split('?');
  const base = new URL(root).pathname.replace(/\/$/, '');
  if (path.includes('#') || url.pathname !== base + written || (query.length > 0 && url.search !== `?${query.join('?')}`)) {
    throw new Error(`refusing to send a request whose path would not be sent as written: ${JSON.stringify(path)}`);
  }
  return url;
}

function statusMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

export interface ObjectList<T> {
  items: T[];
  resourceVersion: string;
}

/** A list response as JSON. */
interface ListPage<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export type WatchQuery = Record<string, string | number | boolean | undefined>;

/** A watch that sent nothing for this long is cut (a TimeoutError), so a dead connection cannot hold it. */
const watchIdleMs = 30_000;

export class RawKubeClient {
  /**
   * @param agent default: one kept-alive connection for a sequence of calls, not a TLS handshake each;
   * a client that watches while it calls needs more sockets.
   */
  constructor(
    private readonly config: KubeEndpoint,
    private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 }),
  ) {}

  close(): void {
    this.agent.destroy();
  }

  /** The API server the kubeconfig's current context names. */
  get server(): string {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    return cluster.server.replace(/\/$/, '');
  }

  /** A request with the kubeconfig's TLS options and credentials, not yet sent. */
  private async open(method: string, path: string, headers: Record<string, string | string[]>, signal?: AbortSignal): Promise<ClientRequest> {
    const url = sentAsWritten(this.server, path);
    const options: RequestOptions = { method, headers, ...(signal ? { signal } : {}) };
    await this.config.applyToHTTPSOptions(options);
    options.agent = this.agent; // client-node puts a new Agent here each time; the TLS options stay on the request
    return (url.protocol === 'http:' ? httpRequest : httpsRequest)(url, options);
  }

  /** `more.headers`: more to send (Impersonate-User and Impersonate-Group for a replay as the recorded identity). */
  async request(method: string, path: string, body?: Buffer, contentType?: string, accept = 'application/json', more: { headers?: Record<string, string | string[]>; signal?: AbortSignal } = {}): Promise<RawResponse> {
    const headers = { ...more.headers, Accept: accept, ...(body ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': String(body.length) } : {}) };
    const req = await this.open(method, path, headers, more.signal);
    return new Promise((resolve, reject) => {
      req.on('response', (res: IncomingMessage) => {
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

  /** A JSON request whose answer must be 2xx (a `KubeApiError` otherwise), parsed. */
  async requestJson<T>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    const response = await this.request(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), contentType, 'application/json', { signal });
    if (response.status < 200 || response.status > 299) throw new KubeApiError(response.status, response.body, `${method} ${path}`);
    return JSON.parse(response.body) as T;
  }

  /** GET of a JSON object; undefined when the server answers 404. */
  async getJson<T = Record<string, unknown>>(path: string): Promise<T | undefined> {
    const response = await this.request('GET', path);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw new KubeApiError(response.status, response.body, `GET ${path}`);
    return JSON.parse(response.body) as T;
  }

  create<T>(path: string, object: unknown): Promise<T> {
    return this.requestJson<T>('POST', path, object);
  }

  /** A patch of `contentType`: JSON patch (a `test` of `/metadata/resourceVersion` makes it conditional), merge patch. */
  patch<T>(path: string, patch: unknown, contentType: 'application/json-patch+json' | 'application/merge-patch+json'): Promise<T> {
    return this.requestJson<T>('PATCH', path, patch, contentType);
  }

  /**
   * GETs the collection at `path` page by page, so any resource works (core, other groups, custom).
   * List items carry no kind; it is filled in from the list's, the shape watch events have. `transform`
   * cuts each item as its page arrives, so a long list never sits in memory whole.
   */
  async list<T extends KubernetesObject, U = T>(path: string, options: { labelSelector?: string; pageSize?: number; signal?: AbortSignal; transform?: (object: T) => U } = {}): Promise<ObjectList<U>> {
    const items: U[] = [];
    const transform = options.transform ?? ((object: T) => object as unknown as U);
    let resourceVersion = '';
    let continueToken: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(options.pageSize ?? 500) });
      if (options.labelSelector) query.set('labelSelector', options.labelSelector);
      if (continueToken) query.set('continue', continueToken);
      const page = await this.requestJson<ListPage<T>>('GET', `${path}?${query}`, undefined, undefined, options.signal);
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items) items.push(transform({ apiVersion: page.apiVersion, kind, ...item }));
      resourceVersion = page.metadata?.resourceVersion ?? '';
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  /**
   * Watches `path`: `onEvent` for each event as it arrives, then `onEnd` once, with nothing when the
   * server ended the watch, with the error otherwise (a TimeoutError when it sent nothing for 30 s).
   * Resolves, once the server has answered, with the controller that stops it.
   */
  async watch(path: string, query: WatchQuery, onEvent: (type: string, object: never) => void, onEnd: (error?: unknown) => void): Promise<AbortController> {
    const controller = new AbortController();
    const params = new URLSearchParams({ watch: 'true' });
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
    const req = await this.open('GET', `${path}?${params}`, { Accept: 'application/json' }, controller.signal);
    let ended = false;
    let answered = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    return new Promise((resolve, reject) => {
      req.setTimeout(watchIdleMs, () => req.destroy(Object.assign(new Error(`the watch sent nothing for ${watchIdleMs / 1000} s`), { name: 'TimeoutError' })));
      req.on('error', (error) => (answered ? end(error) : reject(error)));
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        if (res.statusCode !== 200) {
          readText(res).then((body) => end(new KubeApiError(res.statusCode ?? 0, body, `watch ${path}`)), end);
          resolve(controller);
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const lines = (pending + chunk).split('\n');
          pending = lines.pop()!;
          try {
            for (const line of lines) {
              if (!line.trim() || ended) continue;
              const event = JSON.parse(line) as { type: string; object: never };
              onEvent(event.type, event.object);
            }
          } catch (error) {
            req.destroy(error as Error);
          }
        });
        res.on('end', () => end());
        res.on('error', end);
        resolve(controller);
      });
      req.end();
    });
  }
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
