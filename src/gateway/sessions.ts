/**
 * Sessions: one per kubectl invocation of a token holder (kubectl sends a `Kubectl-Session` id with each
 * of its requests), or per client connection for other clients. A kubectl invocation's session id is
 * derived from what identifies it — the token, the subject, the grant and the `Kubectl-Session` id — so
 * every gateway process its connections reach gives it the same id and records it as one more writer of
 * that one session (src/recording/FORMAT.md "Writers"); a connection's session gets a random id (a
 * connection reaches one process). A session opens its recording on first
 * use and closes it once idle — no request running and none for `idleMs` — (or when the gateway stops).
 * Idle sessions are looked for every `min(idleMs, 10 s)`, so one closes between `idleMs` and that much
 * later. Time comes from the injected `Clock`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { CallerIdentity } from './auth.js';
import type { Recorder, SessionMetadata, SessionRecorder } from '../recording/recorder.js';
import { realClock, type Clock } from '../runtime/reconciler.js';

export interface Session {
  id: string;
  identity: CallerIdentity;
  recorder: SessionRecorder;
  /** Requests still running: an active exec keeps its session open however long it idles. */
  active: number;
  lastUsed: number;
}

export interface SessionTableOptions {
  recorder: Recorder;
  /** The policy in force, written into each session's metadata as it opens. */
  policy: () => SessionMetadata['policy'];
  /** Default: `sessionDefaults.idleMs`. */
  idleMs?: number;
  clock?: Clock;
}

export const sessionDefaults = { idleMs: 60_000 } as const;

const connectionIds = new WeakMap<object, string>();

export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  private readonly recorder: Recorder;
  private readonly policy: () => SessionMetadata['policy'];
  private readonly idleMs: number;
  private readonly clock: Clock;
  private sweeper: unknown;
  private closed = false;

  constructor(options: SessionTableOptions) {
    this.recorder = options.recorder;
    this.policy = options.policy;
    this.idleMs = options.idleMs ?? sessionDefaults.idleMs;
    this.clock = options.clock ?? realClock;
    this.armSweeper();
  }

  /** The session of this request, opened (and its recording started) on first use. */
  enter(request: IncomingMessage, identity: CallerIdentity): Session {
    const invocation = headerValue(request, 'kubectl-session');
    const key = invocation === undefined ? `${identity.tokenId}\0${connectionId(request)}` : invocationKey(identity, invocation);
    const now = this.clock.now();
    let session = this.sessions.get(key);
    if (!session) {
      const id = invocation === undefined ? randomUUID() : sessionIdOf(key);
      const metadata: SessionMetadata = {
        sessionId: id,
        tokenId: identity.tokenId,
        subject: identity.subject,
        grant: identity.grant,
        policy: this.policy(),
        client: { address: request.socket.remoteAddress, userAgent: headerValue(request, 'user-agent'), command: headerValue(request, 'kubectl-command') },
        startedAt: new Date(now).toISOString(),
      };
      session = { id, identity, recorder: this.recorder.open(metadata, { joinable: invocation !== undefined }), active: 0, lastUsed: now };
      this.sessions.set(key, session);
    }
    session.active++;
    session.lastUsed = now;
    return session;
  }

  leave(session: Session): void {
    session.active--;
    session.lastUsed = this.clock.now();
  }

  async closeAll(reason: string): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.sweeper);
    const open = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(open.map((session) => session.recorder.close(reason).catch(() => undefined)));
  }

  private armSweeper(): void {
    this.sweeper = this.clock.setTimeout(() => {
      this.closeIdle();
      if (!this.closed) this.armSweeper();
    }, Math.min(this.idleMs, 10_000));
  }

  private closeIdle(): void {
    const now = this.clock.now();
    for (const [key, session] of this.sessions) {
      if (session.active === 0 && now - session.lastUsed > this.idleMs) {
        this.sessions.delete(key);
        void session.recorder.close('idle').catch(() => undefined);
      }
    }
  }
}

/** What identifies one kubectl invocation, the same in every gateway process: its token, subject, grant and `Kubectl-Session`. */
function invocationKey(identity: CallerIdentity, invocation: string): string {
  const { subject, grant } = identity;
  return JSON.stringify(['kubectl-session', identity.tokenId, subject.kind, subject.namespace ?? '', subject.name, grant.namespace, grant.name, grant.uid, invocation]);
}

/** A UUID-shaped id (version 8: derived, RFC 9562) from the SHA-256 of `key`. */
export function sessionIdOf(key: string): string {
  const bytes = createHash('sha256').update(key).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** One id per client connection: its socket, or for HTTP/2 its session (each stream has its own socket proxy). */
function connectionId(request: IncomingMessage): string {
  const connection: object = (request as unknown as Partial<Http2ServerRequest>).stream?.session ?? request.socket;
  let id = connectionIds.get(connection);
  if (!id) {
    id = randomUUID();
    connectionIds.set(connection, id);
  }
  return id;
}
