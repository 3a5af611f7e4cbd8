import type { Command } from 'commander';
import { envExports, readLiveState, startSandboxProcess, stopSandbox } from '../sandbox/control.js';
import { CliError, outputOption, type OutputFormat } from './output.js';

export function registerSandboxCommands(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a local control plane on loopback: etcd, kube-apiserver, controller-manager, scheduler, kwok node, MinIO');

  sandbox
    .command('up')
    .description('start a sandbox in DIR and return once every part is ready')
    .requiredOption('--dir <dir>', 'folder for the sandbox (certificates, data, logs, kubeconfig)')
    .addOption(outputOption())
    .action(async (options: { dir: string; output: OutputFormat }) => {
      const started = Date.now();
      const starting = startSandboxProcess(options.dir, {
        onProgress: (message) => options.output === 'text' && process.stderr.write(`  ${message}\n`),
      });
      const interrupt = () => {
        process.stderr.write('interrupted: stopping the sandbox\n');
        starting.abort();
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const state = await starting.ready.finally(() => {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      });
      if (options.output === 'json') {
        process.stdout.write(JSON.stringify(state, null, 2) + '\n');
        return;
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `sandbox ready in ${seconds}s: ${state.apiserver.url} (node ${state.node}), MinIO ${state.s3.endpoint} bucket ${state.s3.bucket}\n` +
          `use it:   eval "$(kubegate sandbox env --dir ${options.dir})"; kubectl get nodes\n` +
          `stop it:  kubegate sandbox down --dir ${options.dir}\n`,
      );
    });

  sandbox
    .command('env')
    .description('print shell exports (KUBECONFIG, S3 settings, KUBEGATE_STORE, PATH with kubectl) for the sandbox in DIR')
    .requiredOption('--dir <dir>', 'folder of a running sandbox')
    .addOption(outputOption())
    .action((options: { dir: string; output: OutputFormat }) => {
      const state = readLiveState(options.dir);
      if (!state) throw new CliError(`no sandbox is running in ${options.dir}; start one with 'kubegate sandbox up --dir ${options.dir}'`);
      process.stdout.write(options.output === 'json' ? JSON.stringify(state, null, 2) + '\n' : envExports(state));
    });

  sandbox
    .command('down')
    .description('stop the sandbox in DIR and every process it started')
    .requiredOption('--dir <dir>', 'folder of the sandbox')
    .action(async (options: { dir: string }) => {
      const stopped = await stopSandbox(options.dir);
      process.stderr.write(stopped ? `sandbox in ${options.dir} stopped\n` : `no sandbox was running in ${options.dir}\n`);
    });
}
