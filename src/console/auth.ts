/**
 * Who is looking: a viewer is a Kubernetes identity `{user, groups}`, the one the console asks the API
 * server about (SubjectAccessReview) and impersonates for every write. How a viewer got here is not
 * its business: a one-time login link (printed at start for an identity the operator of the console
 * names) or a sign-in at the identity provider (oidc-login.ts), each ending in `ViewerSessions.open`.
 *
 * Login tokens and session ids are 32 random bytes, kept in memory only: a restarted console forgets
 * every session, and its links with them. Time comes from a `Clock` so tests move it by hand.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { realClock, type Clock } from '../runtime/reconciler.js';

export interface Viewer {
  user: string;
  groups: string[];
}

export const loginLinkTtlMs = 15 * 60_000;
export const sessionTtlMs = 12 * 3_600_000;

const randomToken = () => randomBytes(32).toString('base64url');

/** `USER[:GROUP,GROUP…]`, as `--login-as` takes it. */
export function parseViewer(text: string): Viewer {
  const colon = text.indexOf(':');
  const user = (colon < 0 ? text : text.slice(0, colon)).trim();
  const groups = colon < 0 ? [] : text.slice(colon + 1).split(',').map((group) => group.trim()).filter(Boolean);
  if (!user) throw new Error(`--login-as "${text}": give a user name, e.g. alice or alice:sre-leads,engineers`);
  return { user, groups };
}

/** Single-use login tokens, each for one viewer, valid 15 minutes. */
export class LoginLinks {
  private readonly tokens = new Map<string, { viewer: Viewer; expires: number }>();

  constructor(private readonly clock: Clock = realClock) {}

  issue(viewer: Viewer): string {
    this.forgetExpired();
    const token = randomToken();
    this.tokens.set(token, { viewer, expires: this.clock.now() + loginLinkTtlMs });
    return token;
  }

  /** The viewer a token was issued for, once: the token is spent whether or not it was still valid. */
  redeem(token: string): Viewer | undefined {
    const entry = this.tokens.get(token);
    this.tokens.delete(token);
    return entry && entry.expires > this.clock.now() ? entry.viewer : undefined;
  }

  private forgetExpired(): void {
    const now = this.clock.now();
    for (const [token, entry] of this.tokens) if (entry.expires <= now) this.tokens.delete(token);
  }
}

export interface ViewerSession {
  id: string;
  viewer: Viewer;
  /** Sent back in `X-Kubegate-CSRF` on every mutation. */
  csrf: string;
  expires: number;
  /** Set when the viewer signs out: what still runs for this session (a live page's feed) ends. */
  signedOut?: boolean;
}

/** Whether a session still stands: neither signed out nor past its 12 hours. */
export function sessionStands(session: ViewerSession, now: number): boolean {
  return !session.signedOut && session.expires > now;
}

/** Signed-in viewers by session id (the cookie), for 12 hours from sign-in. */
export class ViewerSessions {
  private readonly sessions = new Map<string, ViewerSession>();

  constructor(private readonly clock: Clock = realClock) {}

  open(viewer: Viewer): ViewerSession {
    this.forgetExpired();
    const session = { id: randomToken(), viewer, csrf: randomToken(), expires: this.clock.now() + sessionTtlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string | undefined): ViewerSession | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (session && session.expires <= this.clock.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  close(id: string): void {
    const session = this.sessions.get(id);
    if (session) session.signedOut = true;
    this.sessions.delete(id);
  }

  private forgetExpired(): void {
    const now = this.clock.now();
    for (const [id, session] of this.sessions) if (session.expires <= now) this.sessions.delete(id);
  }
}

/** Whether a mutation carries the session's CSRF token (compared in constant time). */
export function csrfMatches(session: ViewerSession, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const [given, expected] = [Buffer.from(header), Buffer.from(session.csrf)];
  return given.length === expected.length && timingSafeEqual(given, expected);
}
