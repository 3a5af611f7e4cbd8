/** `kubegate console`: the web console for approvers and auditors (src/console/). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { parseViewer, type Viewer } from '../console/auth.js';
import { startConsole, type OidcOptions } from '../console/server.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';
import { openStore } from '../recording/open-store.js';
import { CliError } from './output.js';
import { parseListen } from './listen.js';

interface ConsoleFlags {
  listen: string;
  kubeconfig?: string;
  store?: string;
  gatewayEvents: string[];
  gatewayCa?: string;
  loginAs: string[];
  urlFile?: string;
  publicUrl?: string;
  tlsDir?: string;
  oidcFromPolicy?: string;
  oidcIssuer?: string;
  oidcClientId: string;
  oidcScopes?: string;
}

const repeatable = (value: string, all: string[]) => [...all, value];

/** `--oidc-from-policy NS/NAME` and its companions, as the console's OIDC options. */
function oidcOptions(flags: ConsoleFlags): OidcOptions | undefined {
  if (!flags.oidcFromPolicy) {
    if (flags.oidcIssuer) throw new CliError('--oidc-issuer picks one of a policy\'s identity providers: give --oidc-from-policy NS/NAME too');
    return undefined;
  }
  const [namespace, name, ...rest] = flags.oidcFromPolicy.split('/');
  if (!namespace || !name || rest.length > 0) throw new CliError(`--oidc-from-policy "${flags.oidcFromPolicy}": give the SessionPolicy as NAMESPACE/NAME`);
  return { policy: { namespace, name }, clientId: flags.oidcClientId, ...(flags.oidcIssuer ? { issuer: flags.oidcIssuer } : {}), ...(flags.oidcScopes ? { scopes: flags.oidcScopes } : {}) };
}

async function runConsole(flags: ConsoleFlags): Promise<void> {
  const logger = pino({ name: 'kubegate-console', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
  const storeUrl = flags.store ?? process.env.KUBEGATE_STORE;
  if (!storeUrl) throw new CliError('no recording store: pass --store s3://BUCKET/PREFIX or file://DIR, or set KUBEGATE_STORE');
  let loginAs: Viewer[];
  try {
    loginAs = flags.loginAs.map(parseViewer);
    for (const url of flags.gatewayEvents) if (new URL(url).protocol !== 'https:') throw new Error(`--gateway-events ${url}: not https (the console sends gateways a token, over TLS only)`);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const oidc = oidcOptions(flags);
  const store = openStore(storeUrl);
  const running = await startConsole({
    listen: parseListen(flags.listen),
    kubeconfig: loadKubeconfig(flags.kubeconfig),
    store,
    gateways: flags.gatewayEvents.map((url) => ({ url })),
    ...(flags.gatewayCa ? { gatewayCa: readFileSync(flags.gatewayCa, 'utf8') } : {}),
    ...(flags.tlsDir ? { tlsDir: flags.tlsDir } : {}),
    ...(flags.publicUrl ? { publicUrl: flags.publicUrl } : {}),
    loginAs,
    ...(oidc ? { oidc } : {}),
    logger,
  }).catch((error: unknown) => {
    throw new CliError((error as Error).message);
  });
  process.stdout.write(`kubegate console at ${running.url} (recordings: ${store.url})\n`);
  for (const link of running.links) process.stdout.write(`login as ${link.viewer.user}: ${link.url}\n`);
  if (oidc) process.stdout.write(`sign in at ${running.url} with the identity provider of SessionPolicy ${oidc.policy.namespace}/${oidc.policy.name} (client ${oidc.clientId}, redirect ${running.url}/auth/callback)\n`);
  // the first login link, else the console itself, where people sign in at the identity provider
  if (flags.urlFile && (running.links[0] || oidc)) writeFileSync(flags.urlFile, `${running.links[0]?.url ?? running.url}\n`, { mode: 0o600 });
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  logger.info('shutting down');
  await running.close();
  store.close();
}

export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('serve the web console: approvals, grants, recorded and live sessions, for the viewer\'s own Kubernetes identity')
    .option('--listen <host:port>', 'where to serve (plain HTTP only on a loopback address; else --tls-dir)', '127.0.0.1:8090')
    .option('--kubeconfig <file>', "the console's own credential: impersonates viewers, reviews their access (default: $KUBECONFIG, ~/.kube/config)")
    .option('--store <url>', 'the recording store: s3://BUCKET/PREFIX or file://DIR (default $KUBEGATE_STORE)')
    .option('--gateway-events <url>', "a gateway's live events endpoint, e.g. https://127.0.0.1:8082 (repeatable)", repeatable, [])
    .option('--gateway-ca <file>', "the CA that signed the gateways' serving certificates (the policy CA)")
    .option('--login-as <user[:group,…]>', 'print a one-time login link for this identity (repeatable)', repeatable, [])
    .option('--url-file <file>', 'write the first login link to this file')
    .option('--public-url <url>', 'the URL people open the console at, for the links it prints')
    .option('--tls-dir <dir>', 'serve HTTPS with tls.crt and tls.key from this folder')
    .option('--oidc-from-policy <namespace/name>', "let people sign in at the identity provider this SessionPolicy's spec.identityProviders names, their names derived as the gateway derives them")
    .option('--oidc-issuer <url>', 'which of the policy\'s identity providers (default: the first)')
    .option('--oidc-client-id <id>', "the console's client at the identity provider (a public client; redirect URI: the console's URL + /auth/callback)", 'kubegate-console')
    .option('--oidc-scopes <scopes>', 'scopes to ask for', 'openid email groups')
    .action((flags: ConsoleFlags) => runConsole(flags));
}
