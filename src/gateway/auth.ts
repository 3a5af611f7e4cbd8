/**
 * Who is calling: the JIT token's signature, issuer, audience (this policy) and expiry, then its grant as
 * the gateway's informer sees it right now — present, the same uid, Active, not revoked, not past its
 * expiry. A grant that is revoked, expires or is deleted stops its tokens within the watch's latency
 * (milliseconds) and at once at the expiry instant, whatever the operator is doing. Or a person's ID
 * token from one of the policy's identity providers, under the grant found for them (human-auth.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import type { AccessGrant } from '../api/index.js';
import { grantGroup, impersonatedUser, type GrantSubject } from '../api/identity.js';
import type { IdTokenVerifier } from '../token/id-token.js';
import { verifyJitToken, type JitTokenClaims } from '../token/jit-token.js';
import { GatewayError } from './errors.js';
import { humanCaller, type AccessCheck } from './human-auth.js';

/** Who is calling: a JIT token's grant, or a person under the grant found for them (human-auth.ts). */
export interface CallerIdentity {
  tokenId: string;
  grant: { namespace: string; name: string; uid: string };
  /** The grant's subject; for a person, the person (User with their username), whatever the grant names. */
  subject: GrantSubject;
  /** Who asked for the grant (its `spec.requestedBy`): the requester of anything held under it. */
  requestedBy?: string;
  /** The prefixed user the gateway impersonates. */
  user: string;
  /** The grant's group: the only group the gateway impersonates. */
  groups: string[];
  expiresAt: Date;
}

export interface GrantLookup {
  get(namespace: string, name: string): AccessGrant | undefined;
  /** Every grant of the policy's namespace (for people, who name no grant in their token). */
  list(): AccessGrant[];
}

/** What lets people in with ID tokens: the policy's identity providers, the grant asked for, the access check. */
export interface PeopleOptions {
  verifier: IdTokenVerifier;
  chosenGrant?: string;
  covers: AccessCheck;
}

function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

export async function authenticate(
  headers: IncomingHttpHeaders,
  options: { jwks: JSONWebKeySet; policy: { namespace: string; name: string }; grants: GrantLookup; people?: PeopleOptions; now?: Date },
): Promise<CallerIdentity> {
  const token = bearerToken(headers);
  if (!token) throw new GatewayError('KG_UNAUTHENTICATED');
  const now = options.now ?? new Date();
  const people = options.people;
  if (people?.verifier.providerOf(token)) {
    const human = await people.verifier.verify(token, now).catch((error: Error) => {
      throw new GatewayError('KG_TOKEN_INVALID', error.message);
    });
    return humanCaller(human, token, { grants: options.grants.list(), policy: options.policy, chosen: people.chosenGrant, covers: people.covers, now });
  }
  const claims = await verifiedClaims(token, options.jwks, options.policy, now);
  const standing = grantStanding(options.grants.get(claims.grant.namespace, claims.grant.name), claims.grant, now.getTime());
  if (!standing.active) throw new GatewayError('KG_GRANT_INACTIVE', standing.message);
  const { grant } = standing;
  const ref = `${claims.grant.namespace}/${claims.grant.name}`;
  if (grant.spec.policyRef.name !== options.policy.name || claims.grant.namespace !== options.policy.namespace) {
    throw new GatewayError('KG_TOKEN_INVALID', `grant ${ref} belongs to another policy`);
  }
  return {
    tokenId: claims.id,
    grant: claims.grant,
    subject: grant.spec.subject,
    requestedBy: grant.spec.requestedBy,
    user: impersonatedUser(grant.spec.subject),
    groups: [grantGroup(claims.grant.namespace, claims.grant.name)],
    expiresAt: new Date(Math.min(standing.expiresAt, claims.expiresAt.getTime())),
  };
}

/** How a grant stopped being usable: the recorded reason of whatever it ends (`grant revoked` …). */
export type GrantEnd = 'deleted' | 'revoked' | 'expired' | 'inactive';

export type GrantStanding = { active: true; grant: AccessGrant; expiresAt: number } | { active: false; end: GrantEnd; message: string };

/**
 * Whether the grant a token names (`ref`, with the uid it was issued for) may be used at `now`: present
 * with that uid and not being deleted, not revoked, Active, not past its expiry. The one rule for
 * admitting a request (above) and for ending what already runs under the grant (grant-watch.ts).
 */
export function grantStanding(grant: AccessGrant | undefined, ref: { namespace: string; name: string; uid: string }, now: number): GrantStanding {
  const name = `grant ${ref.namespace}/${ref.name}`;
  if (!grant || grant.metadata?.uid !== ref.uid || grant.metadata?.deletionTimestamp) return { active: false, end: 'deleted', message: `${name} no longer exists` };
  const phase = grant.status?.phase;
  if (grant.spec.revoked || phase === 'Revoked') return { active: false, end: 'revoked', message: `${name} was revoked` };
  const expiresAt = grant.status?.expiresAt ? Date.parse(grant.status.expiresAt) : NaN;
  if (phase === 'Active' && expiresAt > now) return { active: true, grant, expiresAt };
  if (phase === 'Active' || phase === 'Expired') return { active: false, end: 'expired', message: `${name} is Expired` };
  return { active: false, end: 'inactive', message: `${name} is ${phase ?? 'Pending'}` };
}

/**
 * Tokens whose signature was checked, per loaded key set (a new key set starts empty, so a removed key
 * stops its tokens at once). A bot sends the same token with every request: verifying an ES256
 * signature each time cost about a tenth of the gateway's CPU. Expiry is checked on every hit, and the
 * grant on every request, as before.
 */
const verifiedTokens = new WeakMap<JSONWebKeySet, Map<string, JitTokenClaims>>();
const maxVerifiedTokens = 10_000;

async function verifiedClaims(token: string, jwks: JSONWebKeySet, policy: { namespace: string; name: string }, now: Date): Promise<JitTokenClaims> {
  let cache = verifiedTokens.get(jwks);
  if (!cache) verifiedTokens.set(jwks, (cache = new Map()));
  const cached = cache.get(token);
  if (cached && cached.expiresAt.getTime() > now.getTime()) return cached;
  let claims: JitTokenClaims;
  try {
    claims = await verifyJitToken(token, jwks, policy, now);
  } catch (error) {
    throw new GatewayError('KG_TOKEN_INVALID', (error as Error).message);
  }
  cache.delete(token);
  if (cache.size >= maxVerifiedTokens) cache.delete(cache.keys().next().value!);
  cache.set(token, claims);
  return claims;
}
