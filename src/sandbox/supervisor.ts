/**
 * The sandbox supervisor: a detached process that owns every program of one sandbox. It starts them,
 * reports progress and readiness to `sandbox up` over IPC, and stops them all in order on SIGTERM,
 * SIGINT or SIGHUP, when any part dies, or when its owner process (a test run) is gone. Its children
 * carry a parent-death signal, so even a SIGKILLed supervisor leaves nothing behind.
 *
 * Usage (internal): node supervisor.js --dir DIR [--owner-pid PID]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from './process.js';
import { startSandbox, stateFileName, type RunningSandbox, type SandboxState } from './sandbox.js';

export type SupervisorMessage =
  | { type: 'progress'; message: string }
  | { type: 'ready'; state: SandboxState }
  | { type: 'failed'; message: string };

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function send(message: SupervisorMessage): void {
  if (process.connected) process.send?.(message);
}

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${message}\n`);
}

async function main(): Promise<void> {
  const dir = argument('--dir');
  if (!dir) throw new Error('--dir is required');
  const ownerPid = Number(argument('--owner-pid') ?? 0);
  let sandbox: RunningSandbox | undefined;
  let stopping = false;
  const shutdown = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    await sandbox?.stop();
    rmSync(join(dir, stateFileName), { force: true });
    log('stopped');
    process.exit(code);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal, 0));
  process.on('disconnect', () => log('sandbox up returned; running detached'));

  try {
    sandbox = await startSandbox(dir, (message) => {
      log(message);
      send({ type: 'progress', message });
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`failed: ${message}`);
    send({ type: 'failed', message });
    await shutdown('start failed', 1);
    return;
  }
  if (stopping) return; // a signal arrived while starting; shutdown has already run
  log(`ready after ${sandbox.state.readyAfterMs} ms`);
  send({ type: 'ready', state: sandbox.state });
  void sandbox.firstExit.then((name) => shutdown(`${name} exited unexpectedly`, 1));
  if (ownerPid > 0) {
    setInterval(() => {
      if (!isAlive(ownerPid)) void shutdown(`owner process ${ownerPid} is gone`, 0);
    }, 500);
  }
}

main().catch((error) => {
  log(`supervisor error: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
