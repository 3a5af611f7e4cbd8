#!/usr/bin/env node
import { Command } from 'commander';

type Registration = () => Promise<(program: Command) => void>;

/** Each command's module, in the order `kubegate --help` lists them. */
const operatorCommand: Registration = async () => (await import('./operator.js')).registerOperatorCommand;
const registrations: Registration[] = [
  async () => (await import('./sandbox.js')).registerSandboxCommands,
  operatorCommand,
  async () => (await import('./kubeconfig.js')).registerKubeconfigCommand,
  async () => (await import('./approvals.js')).registerApprovalCommands,
  async () => (await import('./gateway.js')).registerGatewayCommand,
  async () => (await import('./sessions.js')).registerSessionsCommands,
  async () => (await import('./history.js')).registerHistoryCommand,
  async () => (await import('./dev.js')).registerDevCommands,
  async () => (await import('./console.js')).registerConsoleCommand,
  async () => (await import('./login.js')).registerLoginCommands,
  async () => (await import('./replay.js')).registerReplayCommand,
  async () => (await import('./report.js')).registerReportCommand,
];
/**
 * `kubegate operator` loads its own module alone: a process that runs for weeks holding thousands of
 * grants has no use for the code of the gateway, the console or the AWS SDK (about 25 MiB resident).
 */
const ownModuleOnly: Record<string, Registration> = { operator: operatorCommand };

const program = new Command('kubegate')
  .description('just-in-time, policy-enforcing, recording access to Kubernetes')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });
const alone = ownModuleOnly[process.argv[2] ?? ''];
for (const register of alone ? [alone] : registrations) (await register())(program);
program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const [first, ...details] = message.split('\n');
  process.stderr.write(`kubegate: ${first}${details.length > 0 && !process.env.KUBEGATE_DEBUG ? ' (details: KUBEGATE_DEBUG=1)' : ''}\n`);
  if (process.env.KUBEGATE_DEBUG) process.stderr.write(`${details.join('\n')}\n${error instanceof Error ? error.stack : ''}\n`);
  process.exitCode = 1;
});
