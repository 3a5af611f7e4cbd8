/**
 * A minimal OpenID Connect issuer for the sandbox: the API server's JWT authenticator trusts it, so tests
 * can act as any user with any groups through a real bearer token, minted with `mintUserToken`. It
 * serves discovery and JWKS over HTTPS; tokens are signed with a key kept in the sandbox folder.
 */
import { createServer, type Server } from 'node:https';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';

export const oidcAudience = 'kubegate-sandbox';
const keyId = 'sandbox';

export interface OidcIssuer {
  url: string;
  close(): Promise<void>;
}

export async function startOidcIssuer(options: {
  port: number;
  tls: { certPem: string; keyPem: string };
  signingKeyPem: string;
}): Promise<OidcIssuer> {
  const url = `https://127.0.0.1:${options.port}`;
  const jwk = await exportJWK(createPublicKey(createPrivateKey(options.signingKeyPem)));
  const documents: Record<string, unknown> = {
    '/.well-known/openid-configuration': {
      issuer: url,
      jwks_uri: `${url}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    },
    '/openid/v1/jwks': { keys: [{ ...jwk, kid: keyId, alg: 'ES256', use: 'sig' }] },
  };
  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    const document = documents[req.url ?? ''];
    res.writeHead(document ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(document ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  return { url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A bearer token the sandbox API server authenticates as `user` in `groups`. */
export async function mintUserToken(options: {
  issuer: string;
  signingKeyPem: string;
  user: string;
  groups?: string[];
  ttlSeconds?: number;
}): Promise<string> {
  return new SignJWT({ groups: options.groups ?? [] })
    .setProtectedHeader({ alg: 'ES256', kid: keyId })
    .setIssuer(options.issuer)
    .setAudience(oidcAudience)
    .setSubject(options.user)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`)
    .sign(createPrivateKey(options.signingKeyPem));
}
