/**
 * A real OpenID Provider for the sandbox, the company login people bring to `kubegate login`: the
 * certified `oidc-provider` library on loopback HTTPS (the sandbox CA), with a few test people who log in
 * on a plain username/password page, the authorization code flow with PKCE, refresh tokens and the
 * device flow. Three public clients, as a company would register them: `kubegate` (the audience the
 * gateway requires, which the API server does not accept), `kubernetes` (the audience the API server
 * trusts this issuer for, for people who go to the cluster directly) and `kubegate-console` (the web
 * console's sign-in, redirected to its `/auth/callback` on loopback). ID tokens carry `email`,
 * `email_verified` and `groups` themselves (no userinfo call), as the API server and the gateway read them.
 *
 * The minimal issuer beside it (oidc-issuer.ts) stays: tests mint tokens for any user there in one call.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** People who can log in; the password of each is `<name>-password` (alice-password). */
export const identityProviderUsers = [
  { name: 'alice', email: 'alice@example.com', groups: ['engineers'] },
  { name: 'bob', email: 'bob@example.com', groups: ['sre-leads'] },
  { name: 'carol', email: 'carol@example.com', groups: ['engineers', 'sre-leads'] },
  { name: 'dave', email: 'dave@example.com', groups: [] },
] as const;

export function identityProviderPassword(name: string): string {
  return `${name}-password`;
}

/** The client `kubegate login` uses; its ID tokens' audience is what a SessionPolicy's identity provider requires. */
export const gatewayClientId = 'kubegate';
/** The client `kubegate console --oidc-from-policy` signs people in as (its default --oidc-client-id). */
export const consoleClientId = 'kubegate-console';
/** The client (and audience) the sandbox API server trusts this issuer for. */
export const apiServerClientId = 'kubernetes';
/** ID tokens are short-lived, so refreshing is the normal path. */
export const idTokenTtlSeconds = 300;

/**
 * The entry of a SessionPolicy's `spec.identityProviders` that trusts this provider, names derived as the
 * sandbox API server derives them (the email claim, the groups claim, no prefixes).
 */
export function policyIdentityProvider(provider: { issuer: string; gatewayClientId: string }, caPem: string) {
  return {
    issuer: { url: provider.issuer, audiences: [provider.gatewayClientId], certificateAuthority: caPem },
    claimMappings: { username: { claim: 'email', prefix: '' }, groups: { claim: 'groups', prefix: '' } },
  };
}

export interface IdentityProvider {
  url: string;
  close(): Promise<void>;
}

function findPerson(email: string) {
  return identityProviderUsers.find((person) => person.email === email);
}

function publicNativeClient(clientId: string, redirectPath = '/callback') {
  return {
    client_id: clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    // a native client's loopback redirect matches on any port (RFC 8252 §7.3): the CLI's, and a console on loopback
    redirect_uris: [`http://127.0.0.1${redirectPath}`],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  };
}

/** The device flow's pages, plain (the library's defaults load web fonts, which a sandbox cannot reach). */
const devicePages = {
  userCodeInputSource: (ctx: { body: string }, form: string, _out: unknown, error?: unknown) => {
    ctx.body = page('Enter the code', `${error ? '<p id="error">That code did not work.</p>' : ''}${form}<button type="submit" form="op.deviceInputForm" id="continue">Continue</button>`);
  },
  userCodeConfirmSource: (ctx: { body: string }, form: string, _client: unknown, _device: unknown, userCode: string) => {
    ctx.body = page('Confirm the device', `<p>Code <code id="user-code">${escapeHtml(userCode)}</code></p>${form}<button type="submit" form="op.deviceConfirmForm" id="continue">Continue</button>`);
  },
  successSource: (ctx: { body: string }) => {
    ctx.body = page('Signed in', '<p id="done">The device is signed in; you may close this window.</p>');
  },
};

async function configuration() {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'sandbox-idp', alg: 'ES256', use: 'sig' };
  return {
    clients: [publicNativeClient(gatewayClientId), publicNativeClient(apiServerClientId), publicNativeClient(consoleClientId, '/auth/callback')],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access', 'email', 'groups'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // the claims go into the ID token itself, as the API server's JWT authenticator needs them
    conformIdTokenClaims: false,
    ttl: { IdToken: idTokenTtlSeconds, AccessToken: idTokenTtlSeconds, RefreshToken: 24 * 3600, DeviceCode: 600, Session: 3600, Grant: 24 * 3600, Interaction: 600 },
    features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true, ...devicePages }, revocation: { enabled: true } },
    pkce: { required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => {
      const person = findPerson(sub);
      return person && { accountId: sub, claims: () => ({ sub, email: person.email, email_verified: true, groups: [...person.groups] }) };
    },
    // first-party clients of the company's own login: no consent screen, and always a refresh token
    issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
}

function loginPage(uid: string, error?: string): string {
  return page(
    'Sandbox login',
    `${error ? `<p id="error">${error}</p>` : ''}<form method="post" action="/interaction/${uid}/login">
<label>Email <input name="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="login">Log in</button></form>`,
  );
}

async function formBody(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  response.end(html);
}

/** The login page and its form; consent is granted at once for these first-party clients. */
async function interact(provider: Provider, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const interaction = await provider.interactionDetails(request, response);
  if (interaction.prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: interaction.session!.accountId!, clientId: String(interaction.params.client_id) });
    grant.addOIDCScope(String(interaction.params.scope));
    await provider.interactionFinished(request, response, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  if (request.method === 'GET') return send(response, 200, loginPage(interaction.uid));
  const form = await formBody(request);
  const person = findPerson(form.get('username') ?? '');
  if (!person || form.get('password') !== identityProviderPassword(person.name)) return send(response, 200, loginPage(interaction.uid, 'Wrong email or password.'));
  await provider.interactionFinished(request, response, { login: { accountId: person.email } }, { mergeWithLastSubmission: false });
}

export async function startIdentityProvider(options: { port: number; tls: { certPem: string; keyPem: string } }): Promise<IdentityProvider> {
  const url = `https://127.0.0.1:${options.port}`;
  const provider = new Provider(url, await configuration());
  const handle = provider.callback();
  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (request, response) => {
    if (!/^\/interaction\/[\w-]+(\/login)?$/.test(request.url ?? '')) return handle(request, response);
    interact(provider, request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 400, page('Login failed', `<p id="error">${escapeHtml(String((error as Error).message))}</p>`));
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
