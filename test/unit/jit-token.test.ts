import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { createPrivateKey } from 'node:crypto';
import { newSigningKey, publicKeySet, signJitToken, verifyJitToken, type SigningKey } from '../../src/token/jit-token.js';
import { planRotation } from '../../src/operator/signing-keys.js';

const policy = { namespace: 'kubegate-system', name: 'prod' };
const claims = (expiresAt: Date) => ({
  grant: { namespace: 'kubegate-system', name: 'deploy-bot-payments', uid: '0b3c-uid' },
  subject: { kind: 'User' as const, name: 'deploy-bot' },
  policy,
  expiresAt,
});

test('a JIT token verifies at its own policy gateway only, and only until it expires', async () => {
  const keys = [await newSigningKey()];
  const jwks = await publicKeySet(keys);
  const expiresAt = new Date(Date.now() + 60_000);
  const { token, id } = await signJitToken(keys, claims(expiresAt));
  const verified = await verifyJitToken(token, jwks, policy);
  assert.equal(verified.grant.name, 'deploy-bot-payments');
  assert.equal(verified.grant.uid, '0b3c-uid');
  assert.equal(verified.subject.name, 'deploy-bot');
  assert.equal(verified.id, id);
  assert.equal(verified.expiresAt.getTime(), Math.floor(expiresAt.getTime() / 1000) * 1000);

  await assert.rejects(verifyJitToken(token, jwks, { namespace: 'kubegate-system', name: 'staging' }), /aud/);
  await assert.rejects(verifyJitToken(token, jwks, policy, new Date(expiresAt.getTime() + 1000)), /exp/);
  const [header, payload] = token.split('.');
  await assert.rejects(verifyJitToken(`${header}.${payload}.AAAA`, jwks, policy), /signature/);
  // the public key set carries no private material
  assert.ok(jwks.keys.every((key) => !('d' in key)));
});

test('a token signed by a key outside the set is refused, as is one without grant claims', async () => {
  const keys = [await newSigningKey()];
  const stranger = [await newSigningKey()];
  const { token } = await signJitToken(stranger, claims(new Date(Date.now() + 60_000)));
  await assert.rejects(verifyJitToken(token, await publicKeySet(keys), policy));
  const bare = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: keys[0]!.kid })
    .setIssuer('kubegate')
    .setAudience('kubegate:policy:kubegate-system/prod')
    .setSubject('x')
    .setJti('j')
    .setExpirationTime('1m')
    .sign(createPrivateKey(keys[0]!.privateKeyPem));
  await assert.rejects(verifyJitToken(bare, await publicKeySet(keys), policy), /grant or subject/);
});

test('rotation signs with the newest key and keeps older keys while their tokens can live', async () => {
  const day = 24 * 3600 * 1000;
  const old: SigningKey = { ...(await newSigningKey()), createdAt: new Date(Date.now() - 40 * day).toISOString() };
  const { token } = await signJitToken([old], claims(new Date(Date.now() + 3600_000)));
  const plan = planRotation([old], new Date(), 30 * day, 7 * day);
  assert.equal(plan.rotate, true);
  const fresh = await newSigningKey();
  const keys = [fresh, ...plan.keep];
  // the live token of the old key still verifies after rotation
  await verifyJitToken(token, await publicKeySet(keys), policy);
  const { token: next } = await signJitToken(keys, claims(new Date(Date.now() + 60_000)));
  assert.equal(JSON.parse(Buffer.from(next.split('.')[0]!, 'base64url').toString()).kid, fresh.kid);
  // once the successor is older than the longest token lifetime, the old key goes
  const later = planRotation(keys, new Date(Date.parse(fresh.createdAt) + 8 * day), 30 * day, 7 * day);
  assert.deepEqual(later.keep.map((k) => k.kid), [fresh.kid]);
  assert.equal(later.rotate, false);
});
