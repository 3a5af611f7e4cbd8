/**
 * ID tokens checked as the API server checks them, against a local HTTPS issuer (discovery and JWKS,
 * served with a CA of its own): the issuer's signature, `iss`, `aud`, expiry, asymmetric algorithms only;
 * the key set fetched again when a token names a key it has not seen (rotation), and discovery tried
 * again after the issuer was unreachable.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.js';
import { IdTokenVerifier, type IdentityProvider } from '../../src/token/id-token.js';

interface Issuer {
  url: string;
  ca: string;
  keys: JWK[];
  requests: string[];
  up: boolean;
  server: Server;
}

async function startIssuer(): Promise<Issuer> {
  const ca = await createCertificateAuthority('test-idp-ca');
  const tls = await issueCertificate(ca, { subject: 'CN=idp', ipAddresses: ['127.0.0.1'], server: true });
  const issuer: Issuer = { url: '', ca: ca.certPem, keys: [], requests: [], up: true, server: undefined as unknown as Server };
  issuer.server = createServer({ cert: tls.certPem, key: tls.keyPem }, (request, response) => {
    issuer.requests.push(request.url ?? '');
    if (!issuer.up) return void response.writeHead(503).end();
    const body = request.url === '/.well-known/openid-configuration' ? { issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` } : request.url === '/jwks' ? { keys: issuer.keys } : undefined;
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
  issuer.url = `https://127.0.0.1:${(issuer.server.address() as AddressInfo).port}`;
  after(() => issuer.server.close());
  return issuer;
}

async function signingKey(issuer: Issuer, kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  issuer.keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' });
  return (claims: Record<string, unknown>, options: { aud?: string; iss?: string; exp?: number } = {}) =>
    new SignJWT({ email: 'alice@example.com', groups: ['engineers'], ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(options.iss ?? issuer.url)
      .setAudience(options.aud ?? 'kubegate')
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 300)
      .sign(privateKey);
}

function provider(issuer: Issuer): IdentityProvider {
  return { issuer: { url: issuer.url, audiences: ['kubegate'], certificateAuthority: issuer.ca }, claimMappings: { username: { claim: 'email', prefix: '' }, groups: { claim: 'groups', prefix: 'oidc:' } } };
}

test('a good token names the person; another audience, an expired token, another issuer or an HMAC token is refused', async () => {
  const issuer = await startIssuer();
  const sign = await signingKey(issuer, 'k1');
  const verifier = new IdTokenVerifier([provider(issuer)]);
  const person = await verifier.verify(await sign({}), new Date());
  assert.equal(person.username, 'alice@example.com');
  assert.deepEqual(person.groups, ['oidc:engineers']);
  assert.equal(person.issuer, issuer.url);
  await assert.rejects(verifier.verify(await sign({}, { aud: 'kubernetes' }), new Date()), /aud/);
  await assert.rejects(verifier.verify(await sign({}, { exp: Math.floor(Date.now() / 1000) - 10 }), new Date()), /exp/);
  await assert.rejects(verifier.verify(await sign({}, { iss: 'https://elsewhere.example.com' }), new Date()), /names no identity provider/);
  const hmac = await new SignJWT({ email: 'alice@example.com' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setIssuer(issuer.url).setAudience('kubegate').setExpirationTime('5m').sign(new Uint8Array(32));
  await assert.rejects(verifier.verify(hmac, new Date()));
});

test('a rotated key is fetched when a token names it; discovery is tried again after the issuer was down', async () => {
  const issuer = await startIssuer();
  const first = await signingKey(issuer, 'k1');
  const verifier = new IdTokenVerifier([provider(issuer)], 0);
  issuer.up = false;
  await assert.rejects(verifier.verify(await first({}), new Date()), /503/);
  issuer.up = true;
  await verifier.verify(await first({}), new Date());
  const fetches = () => issuer.requests.filter((path) => path === '/jwks').length;
  const before = fetches();
  await verifier.verify(await first({}), new Date());
  assert.equal(fetches(), before, 'a known key is served from the cache');
  const second = await signingKey(issuer, 'k2');
  assert.equal((await verifier.verify(await second({}), new Date())).username, 'alice@example.com');
  assert.equal(fetches(), before + 1, 'the new key was fetched once');
});
