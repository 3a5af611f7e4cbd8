/**
 * The foreground of `kubegate dev`: refuses a DIR where one already runs, starts everything (start.ts),
 * prints how to use it, plays the demo when asked, and stays until SIGINT/SIGTERM (`kubegate dev down`
 * sends SIGTERM) or a child exits on its own; then stops every child and the sandbox.
 */
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { identityProviderPassword } from '../../sandbox/identity-provider.js';
import { packageRoot } from '../../util/package-root.js';
import { CliError } from '../output.js';
import { devCluster, devPolicy, sampleApprover, shopNamespace } from './cluster.js';
import { playDemo } from './demo.js';
import { Kubectl } from '../../sandbox/kubectl.js';
import { DevSession, PartFailed } from './session.js';
import { startDev, type DevOptions, type DevReady } from './start.js';
import { liveDevState, removeDevState, sandboxDir } from './state.js';

export interface DevFlags extends DevOptions {
  dir: string;
  demo: boolean;
}

/** How to use what runs, on stdout: paths as the user gave DIR, commands as this checkout runs them. */
function printReady(ready: DevReady, flags: DevFlags, seconds: string): void {
  const kubegate = relative(process.cwd(), join(packageRoot(), 'bin', 'kubegate')) || 'kubegate';
  const dir = flags.dir;
  const sessions = flags.store === 'minio' ? `${kubegate} sessions list   (after the eval above: the sandbox's MinIO)` : `${kubegate} sessions list --store ${ready.store.url}`;
  const lines = [
    `kubegate dev is ready in ${seconds}s: policy ${devPolicy.namespace}/${devPolicy.name}, its gateway on ${ready.gatewayUrl}, recordings in ${ready.store.url}`,
    `  try:      eval "$(${kubegate} sandbox env --dir ${sandboxDir(dir)})"; kubectl --kubeconfig ${join(dir, 'bot.kubeconfig')} get pods -n ${shopNamespace}`,
    `  approve:  ${kubegate} approve NAME -n ${devPolicy.namespace} --reason "…" --kubeconfig ${join(dir, 'bob.kubeconfig')}   (what waits: kubectl get approvalrequests -n ${devPolicy.namespace})`,
    `  request:  kubectl --kubeconfig ${join(dir, 'alice.kubeconfig')} create -f my-grant.yaml   (as alice, like samples/dev/accessgrant.yaml)`,
    `  console:  ${ready.consoleLogin}   (one-time link: logs in as ${sampleApprover.user}; or "Sign in" at the sandbox's identity provider as ${sampleApprover.user} / ${identityProviderPassword('bob')})`,
    `  sessions: ${sessions}`,
    `  stop:     Ctrl-C here, or ${kubegate} dev down --dir ${dir}   (logs: ${join(dir, 'logs')})`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function printFailure(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`kubegate dev: ${message.split('\n')[0]}; stopping everything started\n`);
  if (error instanceof PartFailed && error.logFile) {
    process.stderr.write(`  log: ${error.logFile}\n`);
    for (const line of error.logTail()) process.stderr.write(`  | ${line}\n`);
  }
}

async function runDemo(session: DevSession, ready: DevReady, signal: AbortSignal): Promise<void> {
  const cluster = devCluster(ready.sandbox, session.dir);
  const bot = new Kubectl(ready.sandbox.binaries.kubectl, ready.botKubeconfig, [], signal);
  const print = (line: string) => signal.aborted || process.stdout.write(line + '\n');
  print(`demo: the bot plays an agent through the gateway with kubectl --kubeconfig ${ready.botKubeconfig}`);
  const { played, failed } = await playDemo({ cluster, bot, approverKubeconfig: ready.approverKubeconfig, print });
  print(failed === 0 ? `demo: all ${played} steps went as scripted; kubegate dev keeps running` : `demo: ${failed} of ${played} steps did not go as scripted (see above)`);
}

/** Runs `kubegate dev` until stopped; resolves with the exit code. */
export async function runDev(flags: DevFlags): Promise<number> {
  const dir = resolve(flags.dir);
  const live = liveDevState(dir);
  if (live) throw new CliError(`kubegate dev is already running in ${dir} (pid ${live.pid}); stop it with 'kubegate dev down --dir ${flags.dir}' first`);
  mkdirSync(dir, { recursive: true });
  const session = new DevSession(dir);
  const stopping = new AbortController();
  const stopRequested = new Promise<string>((resolveStop) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolveStop(signal));
  }).then((signal) => (stopping.abort(), `${signal} received`));
  let code = 0;
  try {
    const ready = await Promise.race([startDev(session, flags), stopRequested.then((reason) => Promise.reject(new Error(`interrupted: ${reason}`)))]);
    printReady(ready, flags, session.seconds());
    // not awaited: a stop ends its kubectl calls (the signal), and it says nothing more then
    if (flags.demo) void runDemo(session, ready, stopping.signal).catch((error: unknown) => !stopping.signal.aborted && printFailure(error));
    const exited = session.firstExit().then((child) => ({ code: 1, reason: `${child.name} exited on its own (log: ${child.logFile}):\n${child.logTail(10)}` }));
    const outcome = await Promise.race([stopRequested.then((reason) => ({ code: 0, reason })), exited]);
    code = outcome.code;
    session.progress('dev', `stopping: ${outcome.reason}`);
  } catch (error) {
    if (stopping.signal.aborted) {
      session.progress('dev', `stopping: ${(error as Error).message}`);
    } else {
      code = 1;
      printFailure(error);
    }
  } finally {
    await session.stop();
    removeDevState(dir);
    session.progress('dev', 'stopped: every process it started has ended');
  }
  return code;
}
