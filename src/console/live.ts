/**
 * Live sessions: the console relays the gateways' event streams (`GET /events`, server-sent events,
 * authenticated with a token of the console's ServiceAccount bound to the audience `kubegate-live-events`,
 * live-token.ts; never the console's own credential) to each viewer allowed to `watch` sessions, and asks every
 * gateway to end a session (`DELETE /sessions/ID`).
 *
 * Each viewer's page gets its own connection to each gateway, opened when the page subscribes and
 * closed when it leaves: a gateway computes nothing while nobody watches. The gateways' first
 * `snapshot` events are merged into one; an event is passed on only when the viewer may watch the
 * sessions of its policy's namespace (known from the session's start or the snapshot; an event of a
 * session the console cannot place is dropped). A page that does not keep up is cut off, and its
 * browser reconnects.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { sseEvent, sseJson } from '../util/server-sent-events.js';

export interface SseMessage {
  event: string;
  data: string;
}

/** Server-sent events from text chunks (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  push(text: string): SseMessage[] {
    this.buffer += text;
    const messages: SseMessage[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // a CR that ends the chunk may be the first half of a CRLF: wait for the next chunk
      if (newline === this.buffer.length - 1 && this.buffer.endsWith('\r')) break;
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (this.buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (this.data.length > 0) messages.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    if (this.buffer.length > 1024 * 1024) throw new Error('an event longer than 1 MiB');
    return messages;
  }
}

export interface GatewayTarget {
  /** The events base URL, e.g. https://127.0.0.1:8082. */
  url: string;
}

export interface LiveSession {
  session: string;
  grant: { namespace: string; name: string };
  policy: { namespace: string; name: string };
  [field: string]: unknown;
}

/** Bytes queued to a page before it counts as not keeping up. */
const maxQueuedBytes = 1024 * 1024;
const snapshotWaitMs = 5_000;
const heartbeatMs = 15_000;

export class GatewayEvents {
  /** Sessions seen in any relay, by id: where a session started (for filtering) and under which grant (to end it). */
  private readonly known = new Map<string, { grant: { namespace: string; name: string }; policy: { namespace: string; name: string } }>();

  constructor(
    readonly targets: GatewayTarget[],
    private readonly tls: { ca?: string },
    private readonly token: () => Promise<string>,
  ) {}

  placeOf(sessionId: string): { grant: { namespace: string; name: string }; policy: { namespace: string; name: string } } | undefined {
    return this.known.get(sessionId);
  }

  private remember(session: LiveSession): void {
    if (this.known.size > 100_000) this.known.clear();
    if (session.grant && session.policy) this.known.set(session.session, { grant: session.grant, policy: session.policy });
  }

  private async open(target: GatewayTarget, method: 'GET' | 'DELETE', path: string): Promise<{ request: ClientRequest; response: Promise<IncomingMessage> }> {
    const url = new URL(path, target.url.endsWith('/') ? target.url : `${target.url}/`);
    const token = await this.token();
    if (url.protocol !== 'https:') throw new Error(`${target.url} is not https: the console sends gateways a token over TLS only`);
    const options: RequestOptions = { method, headers: { Accept: method === 'GET' ? 'text/event-stream' : 'application/json', Authorization: `Bearer ${token}` }, ...(this.tls.ca ? { ca: this.tls.ca } : {}) };
    const request = httpsRequest(url, options);
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
    });
    request.end();
    return { request, response };
  }

  /** Relays every gateway's events to one page until it leaves (or every gateway's stream ends). */
  async relay(response: ServerResponse, visible: (namespace: string) => boolean, place: (sessionId: string) => string | undefined): Promise<void> {
    const page = new PageRelay(response, this.targets.length, visible, (sessionId) => this.known.get(sessionId)?.policy.namespace ?? place(sessionId), (session) => this.remember(session));
    await Promise.all(this.targets.map((target) => this.follow(target, page)));
  }

  private async follow(target: GatewayTarget, page: PageRelay): Promise<void> {
    let answer: IncomingMessage;
    try {
      const { request, response } = await this.open(target, 'GET', 'events');
      page.upstream(request);
      answer = await response;
    } catch (error) {
      return page.gone(target.url, (error as Error).message);
    }
    if (answer.statusCode !== 200) {
      const body = await readText(answer);
      return page.gone(target.url, `HTTP ${answer.statusCode}: ${statusMessage(body)}`);
    }
    const parser = new SseParser();
    const decoder = new StringDecoder('utf8');
    answer.on('data', (chunk: Buffer) => {
      try {
        for (const message of parser.push(decoder.write(chunk))) page.message(target.url, message);
      } catch (error) {
        answer.destroy(error as Error);
      }
    });
    answer.once('error', (error) => page.gone(target.url, error.message));
    answer.once('end', () => page.gone(target.url, 'the gateway ended its event stream'));
  }

  /** Asks every gateway to end the session; how many of its streams and requests they ended, and what failed. */
  async endSession(sessionId: string): Promise<{ ended: number; errors: string[] }> {
    const answers = await Promise.all(
      this.targets.map(async (target) => {
        try {
          const { response } = await this.open(target, 'DELETE', `sessions/${encodeURIComponent(sessionId)}`);
          const answer = await response;
          const body = await readText(answer);
          if (answer.statusCode !== 200) return { ended: 0, error: `${target.url}: HTTP ${answer.statusCode}: ${statusMessage(body)}` };
          return { ended: Number((JSON.parse(body) as { ended?: number }).ended ?? 0) };
        } catch (error) {
          return { ended: 0, error: `${target.url}: ${(error as Error).message}` };
        }
      }),
    );
    return { ended: answers.reduce((sum, answer) => sum + answer.ended, 0), errors: answers.flatMap((answer) => (answer.error ? [answer.error] : [])) };
  }
}

async function readText(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of response as AsyncIterable<Buffer>) if (text.length < 64 * 1024) text += chunk.toString('utf8');
  return text;
}

function statusMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

/**
 * One page's relay: the gateways' snapshots merged into one (sent once each gateway sent its own or
 * failed, or after 5 s), then their events as they come, each only if the viewer may watch the
 * sessions of its policy's namespace.
 */
class PageRelay {
  private readonly requests: ClientRequest[] = [];
  private readonly namespaces = new Map<string, string>();
  private readonly snapshot: LiveSession[] = [];
  /** Gateways whose snapshot is still awaited, and those whose stream has not ended. */
  private readonly awaited = new Set<string>();
  private readonly ended = new Set<string>();
  private held: string[] | undefined = [];
  private readonly timers: NodeJS.Timeout[];
  private closed = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly gateways: number,
    private readonly visible: (namespace: string) => boolean,
    private readonly namespaceElsewhere: (sessionId: string) => string | undefined,
    private readonly remember: (session: LiveSession) => void,
  ) {
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    this.timers = [setTimeout(() => this.sendSnapshot(), gateways === 0 ? 0 : snapshotWaitMs), setInterval(() => this.write(': keep-alive\n\n'), heartbeatMs)];
    response.once('close', () => {
      this.closed = true;
      for (const timer of this.timers) clearTimeout(timer);
      for (const request of this.requests) request.destroy();
    });
  }

  /** A connection to a gateway for this page: closed with the page (at once, if the page already left). */
  upstream(request: ClientRequest): void {
    if (this.closed) request.destroy();
    else this.requests.push(request);
  }

  private write(text: string): void {
    if (this.closed || this.response.writableEnded) return;
    if (this.response.writableLength > maxQueuedBytes) return void this.response.end(); // the browser reconnects
    if (this.held) this.held.push(text);
    else this.response.write(text);
  }

  private sendSnapshot(): void {
    if (!this.held || this.closed || this.response.writableEnded) return;
    const held = this.held;
    this.held = undefined;
    this.response.write(sseJson('snapshot', { sessions: this.snapshot }));
    for (const text of held) this.response.write(text);
  }

  /** The gateway's snapshot is in (or will never come): the merged one goes out once every gateway's is. */
  private snapshotIn(gateway: string): void {
    this.awaited.add(gateway);
    if (this.awaited.size >= this.gateways) this.sendSnapshot();
  }

  message(gateway: string, message: SseMessage): void {
    let data: { session?: string; sessions?: LiveSession[]; policy?: { namespace: string; name: string } };
    try {
      data = JSON.parse(message.data) as typeof data;
    } catch {
      return;
    }
    if (message.event === 'snapshot') {
      for (const session of data.sessions ?? []) {
        this.remember(session);
        this.namespaces.set(session.session, session.policy?.namespace);
        if (this.visible(session.policy?.namespace)) this.snapshot.push(session);
      }
      return this.snapshotIn(gateway);
    }
    if (!data.session) return;
    if (message.event === 'session-start' && data.policy) {
      this.remember(data as LiveSession);
      this.namespaces.set(data.session, data.policy.namespace);
    }
    const namespace = this.namespaces.get(data.session) ?? this.namespaceElsewhere(data.session);
    if (namespace !== undefined && this.visible(namespace)) this.write(sseEvent(message.event, message.data));
    if (message.event === 'session-end') this.namespaces.delete(data.session);
  }

  gone(gateway: string, error: string): void {
    if (this.ended.has(gateway)) return;
    this.ended.add(gateway);
    this.write(sseJson('gateway-error', { gateway, error }));
    this.snapshotIn(gateway);
    if (this.ended.size === this.gateways) this.response.end();
  }
}
