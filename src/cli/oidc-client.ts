/**
 * The OpenID Connect client of `kubegate login`: a public client (no secret) that obtains an ID token
 * and a refresh token by the authorization code flow with PKCE on a loopback redirect (RFC 8252: an
 * ephemeral port on 127.0.0.1, which native clients' registrations match on any port), or by the device
 * flow (RFC 8628) where no browser is at hand, and refreshes it. Talks to the provider over
 * node:https trusting the CA it is given.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import type { HttpsFetch, ProviderMetadata } from '../token/id-token.js';

export interface OidcClient {
  metadata: ProviderMetadata;
  clientId: string;
  scopes: string;
  fetch: HttpsFetch;
}

/** What the token endpoint handed out; `expiresAt` is the ID token's own expiry. */
export interface TokenSet {
  idToken: string;
  refreshToken?: string;
  expiresAt: string;
}

const random = () => randomBytes(32).toString('base64url');

function endpoint(client: OidcClient, name: 'authorization_endpoint' | 'token_endpoint' | 'device_authorization_endpoint'): string {
  const url = client.metadata[name];
  if (!url) throw new Error(`${client.metadata.issuer} names no ${name}`);
  return url;
}

async function postForm(client: OidcClient, url: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await client.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: client.clientId, ...form }).toString(),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${url} answered ${response.status} with no JSON`);
  }
  return { status: response.status, body };
}

function oauthError(body: Record<string, unknown>): string {
  return `${String(body.error ?? 'error')}${body.error_description ? `: ${String(body.error_description)}` : ''}`;
}

/** The tokens of a token endpoint answer; the ID token's nonce must be ours when we sent one. */
function tokenSet(body: Record<string, unknown>, previous?: TokenSet, nonce?: string): TokenSet {
  if (typeof body.id_token !== 'string') throw new Error('the provider returned no ID token (is the openid scope allowed?)');
  const claims = decodeJwt(body.id_token);
  if (nonce !== undefined && claims.nonce !== nonce) throw new Error('the ID token carries another nonce than this login sent');
  if (typeof claims.exp !== 'number') throw new Error('the ID token has no expiry');
  const refreshToken = typeof body.refresh_token === 'string' ? body.refresh_token : previous?.refreshToken;
  return { idToken: body.id_token, ...(refreshToken ? { refreshToken } : {}), expiresAt: new Date(claims.exp * 1000).toISOString() };
}

async function exchange(client: OidcClient, form: Record<string, string>, previous?: TokenSet, nonce?: string): Promise<TokenSet> {
  const { status, body } = await postForm(client, endpoint(client, 'token_endpoint'), form);
  if (status !== 200) throw new Error(`the provider refused: ${oauthError(body)}`);
  return tokenSet(body, previous, nonce);
}

/**
 * Authorization code with PKCE: listens on 127.0.0.1 (ephemeral port), hands the authorization URL to
 * `show` (which prints it and may open a browser), and exchanges the code the browser brings back.
 */
export async function authorizationCodeLogin(client: OidcClient, show: (url: string) => void, timeoutMs = 300_000): Promise<TokenSet> {
  const verifier = random();
  const state = random();
  const nonce = random();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  try {
    const code = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no login within ${timeoutMs / 1000} s`)), timeoutMs);
      server.on('request', (request, response) => {
        const url = new URL(request.url ?? '/', redirectUri);
        if (url.pathname !== '/callback') return void response.writeHead(404).end();
        const text = { 'content-type': 'text/plain; charset=utf-8' };
        // any page the person has open can send a request here: one without this login's state is not its answer
        if (url.searchParams.get('state') !== state) return void response.writeHead(400, text).end('kubegate: this is not the login kubegate started.\n');
        const error = url.searchParams.get('error');
        const code = url.searchParams.get('code');
        response.writeHead(code && !error ? 200 : 400, text).end(code && !error ? 'kubegate: logged in; you may close this window.\n' : 'kubegate: login failed.\n');
        clearTimeout(timer);
        if (code && !error) resolve(code);
        else reject(new Error(`the provider refused: ${error ?? 'no code'} ${url.searchParams.get('error_description') ?? ''}`));
      });
    });
    const authorize = new URL(endpoint(client, 'authorization_endpoint'));
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const params = { client_id: client.clientId, response_type: 'code', scope: client.scopes, redirect_uri: redirectUri, state, nonce, code_challenge: challenge, code_challenge_method: 'S256' };
    for (const [name, value] of Object.entries(params)) authorize.searchParams.set(name, value);
    show(authorize.toString());
    return await exchange(client, { grant_type: 'authorization_code', code: await code, redirect_uri: redirectUri, code_verifier: verifier }, undefined, nonce);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** The device flow: `show` tells the person where to go and which code to enter; polls until they did. */
export async function deviceLogin(client: OidcClient, show: (verificationUri: string, userCode: string, completeUri?: string) => void, sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))): Promise<TokenSet> {
  const { status, body } = await postForm(client, endpoint(client, 'device_authorization_endpoint'), { scope: client.scopes });
  if (status !== 200) throw new Error(`the provider refused the device login: ${oauthError(body)}`);
  show(String(body.verification_uri), String(body.user_code), typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : undefined);
  let intervalMs = Number(body.interval ?? 5) * 1000;
  const deadline = Date.now() + Number(body.expires_in ?? 600) * 1000;
  while (Date.now() < deadline) {
    await sleep(intervalMs);
    const answer = await postForm(client, endpoint(client, 'token_endpoint'), { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(body.device_code) });
    if (answer.status === 200) return tokenSet(answer.body);
    if (answer.body.error === 'slow_down') intervalMs += 5000;
    else if (answer.body.error !== 'authorization_pending') throw new Error(`the device login failed: ${oauthError(answer.body)}`);
  }
  throw new Error('the device code expired before the login was completed');
}

/** A fresh ID token for a refresh token (the provider may rotate the refresh token too). */
export function refresh(client: OidcClient, tokens: TokenSet): Promise<TokenSet> {
  if (!tokens.refreshToken) throw new Error('no refresh token: run kubegate login again');
  return exchange(client, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken }, tokens);
}
