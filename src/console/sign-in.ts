/**
 * Signing in and out of the console: a one-time login link, or a sign-in at the identity provider
 * (oidc-login.ts), becomes a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS); an API call
 * finds its viewer by that cookie, and a mutation must also carry the session's CSRF token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../runtime/reconciler.js';
import { csrfMatches, LoginLinks, sessionTtlMs, ViewerSessions, type Viewer, type ViewerSession } from './auth.js';
import { cookieValue, forbidden, HttpError, sendJson } from './http.js';
import { LoginRefused, loginStateTtlMs, type OidcLogin } from './oidc-login.js';

export const cookieName = 'kubegate_console';
/**
 * The state of a sign-in at the identity provider, in the browser that began it. SameSite=Lax: the
 * provider's redirect back is a top-level navigation from another site, which a Strict cookie misses.
 */
export const loginCookieName = 'kubegate_console_login';

export class SignIn {
  private readonly links: LoginLinks;
  private readonly sessions: ViewerSessions;

  constructor(
    clock: Clock,
    private readonly secure: boolean,
    private readonly onSignIn: (viewer: Viewer, how: string) => void,
    private readonly oidc?: OidcLogin,
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

  /** Opens a session for `viewer` and sends the browser on to `location` with its cookie. */
  private signedIn(viewer: Viewer, how: string, response: ServerResponse, location: string, cookies: string[] = []): void {
    const session = this.sessions.open(viewer);
    this.onSignIn(viewer, how);
    response.writeHead(303, { Location: location, 'Set-Cookie': [this.cookie(session.id, sessionTtlMs / 1000), ...cookies], 'Cache-Control': 'no-store' });
    response.end();
  }

  private refused(response: ServerResponse, message: string): void {
    response.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(`${message}\n`);
  }

  /** `GET /login?token=…`: a valid token opens a session and goes to the console's first page. */
  login(url: URL, response: ServerResponse): void {
    const viewer = this.links.redeem(url.searchParams.get('token') ?? '');
    if (!viewer) return this.refused(response, 'This login link has been used or has expired. Ask for a new one (kubegate console prints one per --login-as at start).');
    this.signedIn(viewer, 'login link', response, '/');
  }

  /** `GET /auth/config`, before signing in: how the login page may offer to sign in. */
  async config(response: ServerResponse): Promise<void> {
    if (!this.oidc) return sendJson(response, 200, {});
    const issuer = await this.oidc.issuer().catch((error: unknown) => new Error(`sign-in with the identity provider is not available: ${(error as Error).message}`));
    sendJson(response, 200, issuer instanceof Error ? { oidcError: issuer.message } : { oidc: { issuer, login: '/auth/login' } });
  }

  /** `GET /auth/login?next=PATH`: off to the identity provider, the login's state in this browser's cookie. */
  async beginOidc(url: URL, response: ServerResponse): Promise<void> {
    if (!this.oidc) throw new HttpError(404, 'NotFound', 'this console has no identity provider to sign in with (kubegate console --oidc-from-policy)');
    const { state, url: authorize } = await this.oidc.begin(url.searchParams.get('next'));
    const cookie = `${loginCookieName}=${state}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=${loginStateTtlMs / 1000}${this.secure ? '; Secure' : ''}`;
    response.writeHead(303, { Location: authorize, 'Set-Cookie': cookie, 'Cache-Control': 'no-store' });
    response.end();
  }

  /** `GET /auth/callback`: the provider's answer becomes a session, or a refusal saying why. */
  async finishOidc(request: IncomingMessage, url: URL, response: ServerResponse): Promise<void> {
    if (!this.oidc) throw new HttpError(404, 'NotFound', 'this console has no identity provider to sign in with');
    const spent = `${loginCookieName}=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0${this.secure ? '; Secure' : ''}`;
    try {
      const { viewer, next } = await this.oidc.finish(url.searchParams, cookieValue(request, loginCookieName));
      this.signedIn(viewer, 'identity provider', response, next, [spent]);
    } catch (error) {
      if (!(error instanceof LoginRefused)) throw error;
      response.setHeader('Set-Cookie', spent);
      this.refused(response, `Sign-in refused: ${error.message}.`);
    }
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
