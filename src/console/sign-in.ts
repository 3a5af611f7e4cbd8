/**
 * Signing in and out of the console: a one-time login link becomes a session cookie (HttpOnly,
 * SameSite=Strict, Secure over HTTPS); an API call finds its viewer by that cookie, and a mutation must
 * also carry the session's CSRF token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../runtime/reconciler.js';
import { csrfMatches, LoginLinks, sessionTtlMs, ViewerSessions, type Viewer, type ViewerSession } from './auth.js';
import { cookieValue, forbidden, HttpError, sendJson } from './http.js';

export const cookieName = 'kubegate_console';

export class SignIn {
  private readonly links: LoginLinks;
  private readonly sessions: ViewerSessions;

  constructor(
    clock: Clock,
    private readonly secure: boolean,
    private readonly onSignIn: (viewer: Viewer) => void,
  ) {
    this.links = new LoginLinks(clock);
    this.sessions = new ViewerSessions(clock);
  }

  /** A new login link's token for `viewer`. */
  issue(viewer: Viewer): string {
    return this.links.issue(viewer);
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${this.secure ? '; Secure' : ''}`;
  }

  /** `GET /login?token=…`: a valid token opens a session and goes to the console's first page. */
  login(url: URL, response: ServerResponse): void {
    const viewer = this.links.redeem(url.searchParams.get('token') ?? '');
    if (!viewer) {
      response.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      return void response.end('This login link has been used or has expired. Ask for a new one (kubegate console prints one per --login-as at start).\n');
    }
    const session = this.sessions.open(viewer);
    this.onSignIn(viewer);
    response.writeHead(303, { Location: '/', 'Set-Cookie': this.cookie(session.id, sessionTtlMs / 1000), 'Cache-Control': 'no-store' });
    response.end();
  }

  /** The session an API call is made in: 401 without one, 403 for a mutation without its CSRF token. */
  sessionOf(request: IncomingMessage): ViewerSession {
    const session = this.sessions.get(cookieValue(request, cookieName));
    if (!session) throw new HttpError(401, 'Unauthorized', 'sign in first: open a login link');
    const mutation = request.method !== 'GET' && request.method !== 'HEAD';
    if (mutation && !csrfMatches(session, request.headers['x-kubegate-csrf'])) throw forbidden('missing or wrong X-Kubegate-CSRF header (take it from /api/me)');
    return session;
  }

  logout(session: ViewerSession, response: ServerResponse): void {
    this.sessions.close(session.id);
    response.setHeader('Set-Cookie', this.cookie('', 0));
    sendJson(response, 200, { signedOut: true });
  }
}
