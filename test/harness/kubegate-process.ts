/**
 * A `bin/kubegate` child process for tests: output kept (the tail in memory; the whole of it under
 * KUBEGATE_TEST_LOG_DIR for reading after a failed run), killed when the test process exits, and
 * waited on until `readyUrl` answers 200; and `runKubegate`, one command run to its end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { probe } from '../../src/sandbox/network.js';
import { eventually } from './workloads.js';

export interface KubegateProcess {
  process: ChildProcess;
  logs(): string;
  exited: Promise<void>;
  waitReady(readyUrl: string): Promise<void>;
}

export function spawnKubegate(name: string, args: string[], env: NodeJS.ProcessEnv = {}): KubegateProcess {
  const child = spawn(join(packageRoot(), 'bin', 'kubegate'), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBEGATE_LOG_LEVEL: 'debug', ...env } });
  let output = '';
  const logFile = process.env.KUBEGATE_TEST_LOG_DIR && join(process.env.KUBEGATE_TEST_LOG_DIR, `${name}-${child.pid}.log`);
  const capture = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
    if (logFile) appendFileSync(logFile, chunk);
  };
  child.stdout!.on('data', capture);
  child.stderr!.on('data', capture);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    process: child,
    logs: () => output,
    exited,
    // 60 s: a gateway of two workers on a machine under load took longer than 30; one never ready is stopped, not left running
    waitReady: (readyUrl) =>
      eventually(async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}:\n${output.slice(-3000)}`);
        const { status } = await probe({ url: readyUrl });
        if (status !== 200) throw new Error(`${name} not ready (HTTP ${status}):\n${output.slice(-2000)}`);
      }, 60_000).catch((error: unknown) => {
        child.kill('SIGKILL');
        throw error;
      }),
  };
}

/** What a finished `bin/kubegate` command gave: its exit code (0 or the non-zero one) and its output. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/kubegate ARGS` to its end (`env` over the test process's, `input` on its stdin) and resolves
 * with its exit code, never rejecting: a test asserts a refusal's code and message as it does a success.
 */
export function runKubegate(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(join(packageRoot(), 'bin', 'kubegate'), args, { env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(options.input ?? '');
  });
}
