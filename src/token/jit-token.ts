/**
 * JIT tokens: short-lived JWTs (ES256) that the operator signs for an Active AccessGrant and only that
 * policy's gateway accepts. The API server has no trust in their issuer, so a token is useless anywhere
 * but at the gateway (invariant 1). Claims name the grant (with its uid, so a deleted and re-created grant
 * does not revive old tokens), the subject, the policy (the audience) and an expiry equal to the grant's.
 *
 * Keys rotate: a key set holds every key still able to verify live tokens; new tokens use the newest.
 */
import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';

const tokenIssuer = 'kubegate';
// names of the token's private claims (namespaced, as RFC 7519 advises), read only by the gateway: the
// grant claim is spelled like the grant label of src/api/names.ts but is a different thing
const grantClaim = 'kubegate.dev/grant';
const subjectClaim = 'kubegate.dev/subject';

export interface SigningKey {
  kid: string;
  privateKeyPem: string;
  /** ISO time; the newest key signs. */
  createdAt: string;
}

export interface TokenSubject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
}

export interface JitTokenClaims {
  grant: { namespace: string; name: string; uid: string };
  subject: TokenSubject;
  policy: { namespace: string; name: string };
  expiresAt: Date;
  /** Unique token id: recorded with every session the token opens. */
  id: string;
}

/** The audience of tokens for one policy's gateway: a token for another policy is refused. */
export function policyAudience(policy: { namespace: string; name: string }): string {
  return `kubegate:policy:${policy.namespace}/${policy.name}`;
}

export async function newSigningKey(now = new Date()): Promise<SigningKey> {
  // loaded here only (the operator's): @peculiar/x509 costs ~12 MiB, and the gateway only verifies tokens
  const { createSigningKeys } = await import('../pki/certificates.js');
  const { privateKeyPem } = await createSigningKeys();
  return { kid: `k-${now.toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`, privateKeyPem, createdAt: now.toISOString() };
}

/**
 * Each key's PEM parsed once: parsing cost twice what signing does, and the operator signs a token per
 * grant. Keyed weakly by the key object, so a rotated-out key takes its parsed form with it.
 */
const parsedKeys = new WeakMap<SigningKey, KeyObject>();

function privateKeyOf(key: SigningKey): KeyObject {
  let parsed = parsedKeys.get(key);
  if (!parsed) parsedKeys.set(key, (parsed = createPrivateKey(key.privateKeyPem)));
  return parsed;
}

function newest(keys: SigningKey[]): SigningKey {
  const key = [...keys].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  if (!key) throw new Error('no token signing key');
  return key;
}

export async function signJitToken(keys: SigningKey[], claims: Omit<JitTokenClaims, 'id'>): Promise<{ token: string; id: string }> {
  const key = newest(keys);
  const id = randomUUID();
  const token = await new SignJWT({ [grantClaim]: claims.grant, [subjectClaim]: claims.subject })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(tokenIssuer)
    .setAudience(policyAudience(claims.policy))
    .setSubject(claims.subject.name)
    .setJti(id)
    .setIssuedAt()
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(privateKeyOf(key));
  return { token, id };
}

/** The public half of a key set, as published to gateways (never the private keys). */
export async function publicKeySet(keys: SigningKey[]): Promise<JSONWebKeySet> {
  const jwks: JWK[] = [];
  for (const key of keys) {
    const jwk = await exportJWK(createPublicKey(createPrivateKey(key.privateKeyPem)));
    jwks.push({ ...jwk, kid: key.kid, alg: 'ES256', use: 'sig' });
  }
  return { keys: jwks };
}

/** Verifies signature, issuer, audience and expiry; throws on any failure. */
export async function verifyJitToken(
  token: string,
  jwks: JSONWebKeySet,
  policy: { namespace: string; name: string },
  now = new Date(),
): Promise<JitTokenClaims> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: tokenIssuer,
    audience: policyAudience(policy),
    algorithms: ['ES256'],
    currentDate: now,
    clockTolerance: 0,
    requiredClaims: ['exp', 'jti', 'sub'],
  });
  const grant = payload[grantClaim] as JitTokenClaims['grant'] | undefined;
  const subject = payload[subjectClaim] as TokenSubject | undefined;
  if (!grant?.namespace || !grant.name || !grant.uid || !subject?.name || !subject.kind) throw new Error('token lacks grant or subject claims');
  return { grant, subject, policy, expiresAt: new Date(payload.exp! * 1000), id: payload.jti! };
}
