/**
 * People's ID tokens from the OpenID Providers a SessionPolicy names (`spec.identityProviders`, the
 * shape of the API server's structured AuthenticationConfiguration jwt entries). A token is checked as
 * the API server checks it — signature against the issuer's JWKS (found by discovery, cached and
 * re-fetched when a token names a key it has not seen: jose's remote key set), `iss` exactly the
 * issuer URL, `aud` one of the audiences, not expired, every claim validation rule — and the username
 * and groups are derived as the API server derives them (same claim, same prefix), so that kubegate and
 * the cluster name the same person with the same string.
 */
import { request as httpsRequest } from 'node:https';
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type FetchImplementation, type JWTPayload } from 'jose';
import type { SessionPolicyIdentityProvider } from '../api/index.js';

export type IdentityProvider = SessionPolicyIdentityProvider;

/** A person as an identity provider's token names them. */
export interface HumanIdentity {
  issuer: string;
  username: string;
  groups: string[];
  expiresAt: Date;
}

/** The signature algorithms the API server's JWT authenticator accepts (asymmetric only). */
const algorithms = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

/** A request over node:https trusting `ca` (PEM) instead of the system's roots when given: enough of `fetch` for OpenID. */
export type HttpsFetch = (url: string, init?: { method?: string; headers?: Record<string, string> | Headers; body?: string; signal?: AbortSignal }) => Promise<Response>;

export function httpsFetchTrusting(ca: string | undefined): HttpsFetch {
  return (url, init) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') return Promise.reject(new Error(`${url} is not https`));
    return new Promise<Response>((resolve, reject) => {
      const headers = { accept: 'application/json', ...Object.fromEntries(new Headers(init?.headers).entries()) };
      const options = { method: init?.method ?? 'GET', headers, ...(ca ? { ca } : {}), ...(init?.signal ? { signal: init.signal } : {}) };
      const outgoing = httpsRequest(target, options, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const received = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) if (typeof value === 'string') received.set(name, value);
          resolve(new Response(Buffer.concat(chunks), { status: incoming.statusCode ?? 500, headers: received }));
        });
      });
      outgoing.on('error', reject);
      outgoing.end(init?.body);
    });
  };
}

/** An OpenID Provider's discovery document (the fields kubegate reads). */
export interface ProviderMetadata {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  device_authorization_endpoint?: string;
}

/** `issuer`'s discovery document, checked to name that issuer. */
export async function discover(issuer: string, fetchIt: HttpsFetch): Promise<ProviderMetadata> {
  const response = await fetchIt(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery of ${issuer} answered ${response.status}`);
  const document = (await response.json()) as Partial<ProviderMetadata>;
  if (document.issuer !== issuer) throw new Error(`discovery of ${issuer} names issuer ${document.issuer}`);
  if (!document.jwks_uri) throw new Error(`discovery of ${issuer} names no jwks_uri`);
  return document as ProviderMetadata;
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * One provider's key set, found through its discovery document. Discovery is fetched on first use and
 * again after a failure (a provider that was down at start is picked up when it returns); the key set
 * itself re-fetches on an unknown `kid` (key rotation) and every 10 minutes at most.
 */
class ProviderKeys {
  private keys?: Promise<KeySet>;

  constructor(
    private readonly provider: IdentityProvider,
    private readonly cooldownMs: number,
  ) {}

  get(): Promise<KeySet> {
    this.keys ??= this.discover().catch((error: unknown) => {
      this.keys = undefined;
      throw error;
    });
    return this.keys;
  }

  private async discover(): Promise<KeySet> {
    const { url, certificateAuthority } = this.provider.issuer;
    const fetchIt = httpsFetchTrusting(certificateAuthority);
    const document = await discover(url, fetchIt);
    return createRemoteJWKSet(new URL(document.jwks_uri), { [customFetch]: fetchIt satisfies FetchImplementation, cacheMaxAge: 10 * 60_000, cooldownDuration: this.cooldownMs });
  }
}

/** Verifies ID tokens for one policy's list of providers; keep one per list (the key sets are cached in it). */
export class IdTokenVerifier {
  private readonly keys = new Map<string, ProviderKeys>();
  private readonly fingerprint: string;

  /** `cooldownMs`: the least time between two JWKS fetches for unknown key ids (tests shorten it). */
  constructor(
    private readonly providers: IdentityProvider[],
    cooldownMs = 10_000,
  ) {
    for (const provider of providers) this.keys.set(provider.issuer.url, new ProviderKeys(provider, cooldownMs));
    this.fingerprint = JSON.stringify(providers);
  }

  /** Whether this verifier serves exactly `providers` (so a reloaded, unchanged policy keeps its caches). */
  sameProviders(providers: IdentityProvider[]): boolean {
    return JSON.stringify(providers) === this.fingerprint;
  }

  /** The provider whose issuer the token names, unverified: undefined when none of this policy's is. */
  providerOf(token: string): IdentityProvider | undefined {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    return this.providers.find((provider) => provider.issuer.url === issuer);
  }

  /** The person a token names, or an Error saying why it is not accepted. */
  async verify(token: string, now: Date): Promise<HumanIdentity> {
    const provider = this.providerOf(token);
    if (!provider) throw new Error('the token names no identity provider of this policy');
    const keySet = await this.keys.get(provider.issuer.url)!.get();
    const { payload } = await jwtVerify(token, keySet, { issuer: provider.issuer.url, audience: provider.issuer.audiences, algorithms, currentDate: now, requiredClaims: ['exp'] });
    return { issuer: provider.issuer.url, ...derivedIdentity(provider, payload), expiresAt: new Date(payload.exp! * 1000) };
  }
}

/**
 * The username and groups the API server would derive from these verified claims under `provider`'s
 * claim mappings, after its claim validation rules: the username claim must be a non-empty string (an
 * `email` claim only while `email_verified` is not false), groups a string or a list of strings.
 */
export function derivedIdentity(provider: IdentityProvider, claims: JWTPayload): { username: string; groups: string[] } {
  for (const rule of provider.claimValidationRules ?? []) {
    if (claims[rule.claim] !== rule.requiredValue) throw new Error(`claim ${rule.claim} must be ${JSON.stringify(rule.requiredValue)}`);
  }
  const { username: usernameMapping, groups: groupsMapping } = provider.claimMappings;
  const value = claims[usernameMapping.claim];
  if (typeof value !== 'string' || value === '') throw new Error(`the token has no ${usernameMapping.claim} claim to name its user`);
  if (usernameMapping.claim === 'email' && claims.email_verified !== undefined && claims.email_verified !== true) {
    throw new Error('the token\'s email is not verified (email_verified is not true)');
  }
  const rawGroups = groupsMapping ? claims[groupsMapping.claim] : undefined;
  const groupList = rawGroups === undefined ? [] : typeof rawGroups === 'string' ? [rawGroups] : rawGroups;
  if (!Array.isArray(groupList) || !groupList.every((group) => typeof group === 'string')) {
    throw new Error(`the token's ${groupsMapping!.claim} claim is neither a string nor a list of strings`);
  }
  return { username: usernameMapping.prefix + value, groups: groupList.map((group) => groupsMapping!.prefix + group) };
}
