#!/usr/bin/env node
import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Each command's module with the top-level commands it registers, loaded only when one of them runs:
 * every process of a gateway (its primary and each worker) runs `kubegate gateway`, and pays in memory for
 * every module it loads — the console's, the sandbox's or the audit's code is none of its business. Help,
 * a mistyped command or none load them all, so that commander lists (and suggests) every command.
 */
const commands: Array<[names: string[], load: () => Promise<Register>]> = [
  [['sandbox'], async () => (await import('./sandbox.js')).registerSandboxCommands],
  [['operator'], async () => (await import('./operator.js')).registerOperatorCommand],
  [['kubeconfig'], async () => (await import('./kubeconfig.js')).registerKubeconfigCommand],
  [['approve', 'deny'], async () => (await import('./approvals.js')).registerApprovalCommands],
  [['gateway'], async () => (await import('./gateway.js')).registerGatewayCommand],
  [['sessions'], async () => (await import('./sessions.js')).registerSessionsCommands],
  [['history'], async () => (await import('./history.js')).registerHistoryCommand],
  [['dev'], async () => (await import('./dev.js')).registerDevCommands],
  [['console'], async () => (await import('./console.js')).registerConsoleCommand],
  [['login', 'credential'], async () => (await import('./login.js')).registerLoginCommands],
  [['replay'], async () => (await import('./replay.js')).registerReplayCommand],
  [['report'], async () => (await import('./report.js')).registerReportCommand],
];

async function registerCommands(program: Command, command: string | undefined): Promise<void> {
  const chosen = commands.filter(([names]) => command !== undefined && names.includes(command));
  for (const [, load] of chosen.length > 0 ? chosen : commands) (await load())(program);
}

const program = new Command('kubegate')
  .description('just-in-time, policy-enforcing, recording access to Kubernetes')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

registerCommands(program, process.argv[2])
  .then(() => program.parseAsync(process.argv))
  .catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const [first, ...details] = message.split('\n');
    process.stderr.write(`kubegate: ${first}${details.length > 0 && !process.env.KUBEGATE_DEBUG ? ' (details: KUBEGATE_DEBUG=1)' : ''}\n`);
    if (process.env.KUBEGATE_DEBUG) process.stderr.write(`${details.join('\n')}\n${error instanceof Error ? error.stack : ''}\n`);
    process.exitCode = 1;
  });
