/**
 * Signing in to the console with the identity provider the gateway trusts: the entry of a SessionPolicy's
 * `spec.identityProviders` (`kubegate console --oidc-from-policy NS/NAME`), so the console names a
 * person exactly as the gateway and the API server do (same claims, same prefixes: id-token.ts's
 * `derivedIdentity`). The console is a public client of that provider (`--oidc-client-id`, no secret):
 * the authorization code flow with PKCE, its redirect the console's own `/auth/callback`.
 *
 * A login is bound to the browser that began it: `state` is single use, kept here for 10 minutes and
 * in a cookie of that browser, and must come back in both; the ID token must be signed by the issuer,
 * name the console's client as its audience, carry the nonce this login sent, and derive a username.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Clock } from '../runtime/reconciler.js';
import { discover, httpsFetchTrusting, IdTokenVerifier, type IdentityProvider, type ProviderMetadata } from '../token/id-token.js';
import type { Viewer } from './auth.js';

export interface OidcLoginOptions {
  /** The policy's provider entry, read when a login begins (a changed policy is picked up). */
  provider: () => Promise<IdentityProvider>;
  clientId: string;
  /** The console's `/auth/callback`, as the browser reaches it. */
  redirectUri: string;
  scopes?: string;
}

export const loginStateTtlMs = 10 * 60_000;
const defaultScopes = 'openid email groups';

/** Why a login was refused: shown to the person, who starts again. */
export class LoginRefused extends Error {}

interface PendingLogin {
  verifier: string;
  nonce: string;
  next: string;
  expires: number;
}

/** The provider as the console checks its tokens: the policy's entry, with the console's client as the one audience. */
interface Resolved {
  key: string;
  provider: IdentityProvider;
  metadata: Promise<ProviderMetadata>;
  verifier: IdTokenVerifier;
}

const random = () => randomBytes(32).toString('base64url');

/** A path of this console to go back to after signing in; anything else (another site among them) is `/`. */
export function localPath(next: string | null): string {
  // printable ASCII only: a control byte in the Location header would end the answer in a 500 (browsers send the rest %-escaped)
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/';
}

/**
 * The viewer a verified identity becomes. The console impersonates its viewers cluster-wide, and the
 * provider entry (claims, prefixes, the issuer) is the policy's (platform admins' alone since admission
 * asks for set-identity-providers): still, a `system:` name (system:masters, a ServiceAccount) is refused,
 * never impersonated.
 */
export function consoleViewer(identity: { username: string; groups: string[] }): Viewer {
  const reserved = [identity.username, ...identity.groups].find((name) => name.startsWith('system:'));
  if (reserved !== undefined) throw new LoginRefused(`the identity provider names ${reserved}, a name the console never signs in (system: is Kubernetes' own)`);
  return { user: identity.username, groups: identity.groups };
}

export class OidcLogin {
  private readonly pending = new Map<string, PendingLogin>();
  private resolved?: Resolved;

  constructor(
    private readonly options: OidcLoginOptions,
    private readonly clock: Clock,
  ) {}

  /** The issuer people sign in at (for the login page's button). */
  async issuer(): Promise<string> {
    return (await this.resolve()).provider.issuer.url;
  }

  /** A new login: its state (for the browser's cookie) and the provider's authorization URL. */
  async begin(next: string | null): Promise<{ state: string; url: string }> {
    const { metadata } = await this.resolve();
    const endpoint = (await metadata).authorization_endpoint;
    if (!endpoint) throw new Error(`${(await metadata).issuer} names no authorization_endpoint`);
    this.forgetExpired();
    const [state, verifier, nonce] = [random(), random(), random()];
    this.pending.set(state, { verifier, nonce, next: localPath(next), expires: this.clock.now() + loginStateTtlMs });
    const url = new URL(endpoint);
    const params = { client_id: this.options.clientId, response_type: 'code', scope: this.options.scopes ?? defaultScopes, redirect_uri: this.options.redirectUri, state, nonce, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return { state, url: url.toString() };
  }

  /** The callback's answer: the viewer the provider vouches for, and where they were going. */
  async finish(query: URLSearchParams, browserState: string | undefined): Promise<{ viewer: Viewer; next: string }> {
    const state = query.get('state') ?? '';
    const login = this.pending.get(state);
    this.pending.delete(state); // single use, whatever follows
    if (!login || login.expires <= this.clock.now()) throw new LoginRefused('this sign-in is unknown, expired or already used: start again');
    if (browserState !== state) throw new LoginRefused('this sign-in was started in another browser: start again');
    const error = query.get('error');
    if (error) throw new LoginRefused(`the identity provider refused: ${error}${query.get('error_description') ? ` (${query.get('error_description')})` : ''}`);
    const code = query.get('code');
    if (!code) throw new LoginRefused('the identity provider sent no code');
    const idToken = await this.exchange(code, login.verifier);
    return { viewer: await this.viewerOf(idToken, login.nonce), next: login.next };
  }

  /** The viewer an ID token names, checked as the gateway checks one, plus this login's nonce. */
  async viewerOf(idToken: string, nonce: string): Promise<Viewer> {
    const { verifier } = await this.resolve();
    let identity;
    try {
      identity = await verifier.verify(idToken, new Date(this.clock.now()));
    } catch (error) {
      throw new LoginRefused(`the ID token is not accepted: ${(error as Error).message}`);
    }
    // read after the signature was verified: the claims are the issuer's
    if (decodeJwt(idToken).nonce !== nonce) throw new LoginRefused('the ID token carries another nonce than this sign-in sent');
    return consoleViewer(identity);
  }

  private async exchange(code: string, verifier: string): Promise<string> {
    const { provider, metadata } = await this.resolve();
    const endpoint = (await metadata).token_endpoint;
    if (!endpoint) throw new Error(`${provider.issuer.url} names no token_endpoint`);
    const form = { grant_type: 'authorization_code', code, redirect_uri: this.options.redirectUri, code_verifier: verifier, client_id: this.options.clientId };
    const response = await httpsFetchTrusting(provider.issuer.certificateAuthority)(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    const body = (await response.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown; error_description?: unknown };
    if (response.status !== 200) throw new LoginRefused(`the identity provider refused the code: ${String(body.error ?? response.status)}${body.error_description ? ` (${String(body.error_description)})` : ''}`);
    if (typeof body.id_token !== 'string') throw new LoginRefused('the identity provider returned no ID token (is the openid scope allowed?)');
    return body.id_token;
  }

  /** The policy's entry and what is derived from it, kept while the entry stays the same. */
  private async resolve(): Promise<Resolved> {
    const entry = await this.options.provider();
    const key = JSON.stringify(entry);
    if (this.resolved?.key !== key) {
      const provider: IdentityProvider = { ...entry, issuer: { ...entry.issuer, audiences: [this.options.clientId] } };
      const metadata = discover(provider.issuer.url, httpsFetchTrusting(provider.issuer.certificateAuthority));
      metadata.catch(() => {
        if (this.resolved?.metadata === metadata) this.resolved = undefined; // discovered again next time
      });
      this.resolved = { key, provider, metadata, verifier: new IdTokenVerifier([provider]) };
    }
    return this.resolved;
  }

  private forgetExpired(): void {
    const now = this.clock.now();
    for (const [state, login] of this.pending) if (login.expires <= now) this.pending.delete(state);
  }
}
