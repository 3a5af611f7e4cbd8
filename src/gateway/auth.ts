/**
 * Who is calling: the JIT token's signature, issuer, audience (this policy) and expiry, then its grant as
 * the gateway's informer sees it right now — present, the same uid, Active, not revoked, not past its
 * expiry. A grant that is revoked, expires or is deleted stops its tokens within the watch's latency
 * (milliseconds) and at once at the expiry instant, whatever the operator is doing.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import type { AccessGrant } from '../api/index.js';
import { grantGroup, impersonatedUser, type GrantSubject } from '../api/identity.js';
import { verifyJitToken, type JitTokenClaims } from '../token/jit-token.js';
import { GatewayError } from './errors.js';

export interface CallerIdentity {
  tokenId: string;
  grant: { namespace: string; name: string; uid: string };
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
}

function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

export async function authenticate(
  headers: IncomingHttpHeaders,
  options: { jwks: JSONWebKeySet; policy: { namespace: string; name: string }; grants: GrantLookup; now?: Date },
): Promise<CallerIdentity> {
  const token = bearerToken(headers);
  if (!token) throw new GatewayError('KG_UNAUTHENTICATED');
  const now = options.now ?? new Date();
  const claims = await verifiedClaims(token, options.jwks, options.policy, now);
  const grant = options.grants.get(claims.grant.namespace, claims.grant.name);
  const ref = `${claims.grant.namespace}/${claims.grant.name}`;
  if (!grant || grant.metadata?.uid !== claims.grant.uid || grant.metadata?.deletionTimestamp) throw new GatewayError('KG_GRANT_INACTIVE', `grant ${ref} no longer exists`);
  if (grant.spec.revoked) throw new GatewayError('KG_GRANT_INACTIVE', `grant ${ref} was revoked`);
  const expiresAt = grant.status?.expiresAt ? Date.parse(grant.status.expiresAt) : NaN;
  if (grant.status?.phase !== 'Active' || !(expiresAt > now.getTime())) {
    throw new GatewayError('KG_GRANT_INACTIVE', `grant ${ref} is ${grant.status?.phase === 'Active' ? 'Expired' : (grant.status?.phase ?? 'Pending')}`);
  }
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
    expiresAt: new Date(Math.min(expiresAt, claims.expiresAt.getTime())),
  };
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
