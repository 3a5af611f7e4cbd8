#!/usr/bin/env node
import { Command } from 'commander';
import { registerSandboxCommands } from './sandbox.js';
import { registerOperatorCommand } from './operator.js';
import { registerKubeconfigCommand } from './kubeconfig.js';
import { registerApprovalCommands } from './approvals.js';
import { registerGatewayCommand } from './gateway.js';
import { registerSessionsCommands } from './sessions.js';
import { registerDevCommands } from './dev.js';
import { registerConsoleCommand } from './console.js';
import { registerLoginCommands } from './login.js';

const program = new Command('kubegate')
  .description('just-in-time, policy-enforcing, recording access to Kubernetes')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });
registerSandboxCommands(program);
registerOperatorCommand(program);
registerKubeconfigCommand(program);
registerApprovalCommands(program);
registerGatewayCommand(program);
registerSessionsCommands(program);
registerDevCommands(program);
registerConsoleCommand(program);
registerLoginCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const [first, ...details] = message.split('\n');
  process.stderr.write(`kubegate: ${first}${details.length > 0 && !process.env.KUBEGATE_DEBUG ? ' (details: KUBEGATE_DEBUG=1)' : ''}\n`);
  if (process.env.KUBEGATE_DEBUG) process.stderr.write(`${details.join('\n')}\n${error instanceof Error ? error.stack : ''}\n`);
  process.exitCode = 1;
});
