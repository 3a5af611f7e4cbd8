/**
 * `kubegate login --server GATEWAY`: a person logs in at the company's OpenID Provider that the
 * gateway's policy names (read from the gateway, `/.well-known/kubegate/identity-providers`), by the
 * authorization code flow with PKCE on a loopback redirect or, with `--device`, the device flow; the
 * tokens are cached per issuer, client and person under `$XDG_CACHE_HOME/kubegate/oidc/` (0600), and a
 * kubeconfig context is written whose user is the exec credential plugin `kubectl kubegate credential`,
 * which hands kubectl the cached ID token and refreshes it with the refresh token when it is about to
 * expire. `--grant NAME` points the context at `/kubegate/grants/NAME` on the gateway, for a person
 * with several Active grants.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { parse, stringify } from 'yaml';
import { discover, httpsFetchTrusting } from '../token/id-token.js';
import { authorizationCodeLogin, deviceLogin, refresh, type OidcClient, type TokenSet } from './oidc-client.js';
import { CliError } from './output.js';

const defaultScopes = 'openid email groups offline_access';

/** One cached login: enough to refresh it without the gateway. */
interface CachedLogin {
  issuer: string;
  clientId: string;
  scopes: string;
  issuerCa?: string;
  tokens: TokenSet;
}

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kubegate', 'oidc');
}

function cacheFile(issuer: string, clientId: string, subject: string): string {
  return join(cacheDir(), `${createHash('sha256').update(`${issuer}\0${clientId}\0${subject}`).digest('hex').slice(0, 32)}.json`);
}

/** Written whole or not at all, readable by its owner alone. */
function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, path);
}

function clientFor(login: Omit<CachedLogin, 'tokens'>) {
  const fetchIt = httpsFetchTrusting(login.issuerCa);
  return discover(login.issuer, fetchIt).then((metadata): OidcClient => ({ metadata, clientId: login.clientId, scopes: login.scopes, fetch: fetchIt }));
}

/** The identity providers a gateway's policy accepts, from the gateway itself (pinned by `ca`). */
async function gatewayProviders(server: string, ca: string | undefined): Promise<Array<{ url: string; audiences: string[]; certificateAuthority?: string }>> {
  const response = await httpsFetchTrusting(ca)(`${server.replace(/\/$/, '')}/.well-known/kubegate/identity-providers`);
  if (!response.ok) throw new CliError(`${server} answered ${response.status}: is it a kubegate gateway?`);
  const { identityProviders } = (await response.json()) as { identityProviders: Array<{ url: string; audiences: string[]; certificateAuthority?: string }> };
  if (identityProviders.length === 0) throw new CliError(`the gateway's policy names no identity provider: people cannot log in there`);
  return identityProviders;
}

function openBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
}

interface LoginFlags {
  server: string;
  certificateAuthority?: string;
  issuer?: string;
  clientId?: string;
  scopes: string;
  device?: boolean;
  browser: boolean;
  grant?: string;
  kubeconfig?: string;
  context?: string;
  execCommand: string;
}

async function login(options: LoginFlags): Promise<void> {
  const gatewayCa = options.certificateAuthority ? readFileSync(options.certificateAuthority, 'utf8') : undefined;
  const providers = await gatewayProviders(options.server, gatewayCa);
  const provider = options.issuer ? providers.find((p) => p.url === options.issuer) : providers[0];
  if (!provider) throw new CliError(`the gateway's policy does not name issuer ${options.issuer}; it names ${providers.map((p) => p.url).join(', ')}`);
  const settings = { issuer: provider.url, clientId: options.clientId ?? provider.audiences[0]!, scopes: options.scopes, ...(provider.certificateAuthority ? { issuerCa: provider.certificateAuthority } : {}) };
  const client = await clientFor(settings);
  const tokens = options.device
    ? await deviceLogin(client, (uri, code, complete) => process.stderr.write(`Go to ${uri} and enter the code ${code}${complete ? `\n(or open ${complete})` : ''}\n`))
    : await authorizationCodeLogin(client, (url) => {
        process.stderr.write(`Log in at:\n${url}\n`);
        if (options.browser) openBrowser(url);
      });
  const claims = decodeJwt(tokens.idToken);
  const subject = String(claims.sub);
  writePrivate(cacheFile(settings.issuer, settings.clientId, subject), JSON.stringify({ ...settings, tokens } satisfies CachedLogin, null, 2));
  const file = options.kubeconfig ?? (process.env.KUBECONFIG ?? '').split(delimiter).find(Boolean) ?? join(homedir(), '.kube', 'config');
  const context = options.context ?? `kubegate-${new URL(options.server).host.replace(/[^\w.-]/g, '-')}${options.grant ? `-${options.grant}` : ''}`;
  const server = `${options.server.replace(/\/$/, '')}${options.grant ? `/kubegate/grants/${options.grant}` : ''}`;
  const exec = {
    apiVersion: 'client.authentication.k8s.io/v1',
    command: options.execCommand,
    args: [...(options.execCommand === 'kubectl' ? ['kubegate'] : []), 'credential', `--issuer=${settings.issuer}`, `--client-id=${settings.clientId}`, `--subject=${subject}`],
    interactiveMode: 'Never',
    provideClusterInfo: false,
  };
  writeKubeconfigContext(file, context, { server, ...(gatewayCa ? { 'certificate-authority-data': Buffer.from(gatewayCa).toString('base64') } : {}) }, { exec });
  process.stderr.write(`Logged in as ${String(claims.email ?? subject)} at ${settings.issuer}; kubeconfig context ${context} in ${file} is now current.\n`);
}

type NamedEntries = Array<{ name: string; [key: string]: unknown }>;

/** Adds or replaces one cluster, user and context named `name` in `file` (kept 0600), and makes it current. */
export function writeKubeconfigContext(file: string, name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): void {
  let config: Record<string, unknown> = {};
  try {
    config = (parse(readFileSync(file, 'utf8')) as Record<string, unknown> | null) ?? {};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const upsert = (key: string, entry: Record<string, unknown>) => {
    const entries = ((config[key] as NamedEntries | undefined) ?? []).filter((existing) => existing.name !== name);
    config[key] = [...entries, { name, ...entry }];
  };
  upsert('clusters', { cluster });
  upsert('users', { user });
  upsert('contexts', { context: { cluster: name, user: name } });
  writePrivate(file, stringify({ apiVersion: 'v1', kind: 'Config', ...config, 'current-context': name }));
}

interface CredentialFlags {
  issuer: string;
  clientId: string;
  subject: string;
  minValidity: string;
}

/** The exec credential: the cached ID token, refreshed first when less than `--min-validity` seconds remain. */
async function credential(options: CredentialFlags): Promise<void> {
  const file = cacheFile(options.issuer, options.clientId, options.subject);
  let cached: CachedLogin;
  try {
    cached = JSON.parse(readFileSync(file, 'utf8')) as CachedLogin;
  } catch {
    throw new CliError(`not logged in at ${options.issuer}: run kubegate login`);
  }
  if (Date.parse(cached.tokens.expiresAt) - Date.now() < Number(options.minValidity) * 1000) {
    try {
      cached = { ...cached, tokens: await refresh(await clientFor(cached), cached.tokens) };
    } catch (error) {
      throw new CliError(`the login at ${options.issuer} could not be refreshed (${(error as Error).message}): run kubegate login again`);
    }
    writePrivate(file, JSON.stringify(cached, null, 2));
  }
  const status = { token: cached.tokens.idToken, expirationTimestamp: cached.tokens.expiresAt };
  process.stdout.write(`${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status })}\n`);
}

export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description("log in at the identity provider a gateway's policy names, and write a kubeconfig context that uses it (kubectl kubegate credential)")
    .requiredOption('--server <url>', 'the gateway, https://HOST:PORT')
    .option('--certificate-authority <file>', "PEM of the gateway's CA (default: the system's roots)")
    .option('--issuer <url>', "which of the policy's identity providers (default: the first)")
    .option('--client-id <id>', "the provider's client id (default: the provider's first audience)")
    .option('--scopes <scopes>', 'scopes to ask for', defaultScopes)
    .option('--device', 'the device flow: enter a code on another device, for where no browser is at hand')
    .option('--no-browser', 'print the login URL without opening a browser')
    .option('--grant <name>', 'use this AccessGrant of yours (when you hold several) instead of letting the gateway pick')
    .option('--kubeconfig <file>', 'kubeconfig to write (default: the first of $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'name of the context, cluster and user written (default: kubegate-HOST[-GRANT])')
    .option('--exec-command <command>', 'what the kubeconfig runs for a credential: kubectl (as the plugin kubectl-kubegate) or a path to kubegate', 'kubectl')
    .action(login);
  program
    .command('credential')
    .description('print an ExecCredential with the ID token of a kubegate login, refreshed when about to expire (for kubeconfig exec)')
    .requiredOption('--issuer <url>', 'the identity provider')
    .requiredOption('--client-id <id>', 'the client id logged in with')
    .requiredOption('--subject <sub>', "the person's sub claim")
    .option('--min-validity <seconds>', 'refresh when fewer seconds than this remain', '60')
    .action(credential);
}
