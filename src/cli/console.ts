/** `kubegate console`: the web console for approvers and auditors (src/console/). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { parseViewer, type Viewer } from '../console/auth.js';
import { startConsole } from '../console/server.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';
import { openStore } from '../recording/open-store.js';
import { CliError } from './output.js';
import { parseListen } from './operator.js';

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
}

const repeatable = (value: string, all: string[]) => [...all, value];

async function runConsole(flags: ConsoleFlags): Promise<void> {
  const logger = pino({ name: 'kubegate-console', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
  const storeUrl = flags.store ?? process.env.KUBEGATE_STORE;
  if (!storeUrl) throw new CliError('no recording store: pass --store s3://BUCKET/PREFIX or file://DIR, or set KUBEGATE_STORE');
  let loginAs: Viewer[];
  try {
    loginAs = flags.loginAs.map(parseViewer);
    for (const url of flags.gatewayEvents) new URL(url);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
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
    logger,
  }).catch((error: unknown) => {
    throw new CliError((error as Error).message);
  });
  process.stdout.write(`kubegate console at ${running.url} (recordings: ${store.url})\n`);
  for (const link of running.links) process.stdout.write(`login as ${link.viewer.user}: ${link.url}\n`);
  if (flags.urlFile && running.links[0]) writeFileSync(flags.urlFile, `${running.links[0].url}\n`, { mode: 0o600 });
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
    .action((flags: ConsoleFlags) => runConsole(flags));
}
