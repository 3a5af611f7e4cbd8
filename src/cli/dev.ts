/** `kubegate dev [--dir DIR]` runs the whole product on a local sandbox; `kubegate dev down --dir DIR` stops it. */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { parseWorkers } from './gateway-workers.js';
import { runDev, type DevFlags } from './dev/run.js';
import { stopDev } from './dev/state.js';

export function registerDevCommands(program: Command): void {
  const dev = program
    .command('dev')
    .description('run the whole product on a local sandbox: operator, a sample policy and its gateway, an approved bot grant, the console; stays until Ctrl-C')
    .option('--dir <dir>', 'folder for the sandbox, logs, bot.kubeconfig and console-url', '.kubegate-dev')
    .addOption(new Option('--store <kind>', 'where recordings go: file (DIR/store) or minio (the sandbox MinIO)').choices(['file', 'minio']).default('file'))
    .option('--demo', 'once ready, play a scripted agent through the gateway (reads, refusals, an approval, exec, port-forward)', false)
    .option('--workers <n>', "the gateway's worker processes (default: the gateway's own)", parseWorkers)
    .action(async (flags: DevFlags) => {
      process.exitCode = await runDev(flags);
      // nothing we started is left; open keep-alive connections must not hold the process
      process.exit();
    });
  dev
    .command('down')
    .description('stop the `kubegate dev` running in DIR (from another shell) and everything it started')
    .option('--dir <dir>', 'the folder of that `kubegate dev`')
    .action(async (flags: { dir?: string }) => {
      const dir = flags.dir ?? (dev.opts() as { dir: string }).dir;
      const stopped = await stopDev(resolve(dir));
      process.stderr.write(stopped ? `kubegate dev in ${dir} stopped\n` : `no kubegate dev was running in ${dir}\n`);
    });
}
