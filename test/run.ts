/**
 * `npm test`: starts one sandbox for the whole run, runs the unit and integration test files with
 * node:test against it, stops the sandbox, and fails when a test failed or no test ran.
 *
 *   node dist/test/run.js [compiled test files...]   (default: every dist/test/{unit,integration}/*.test.js)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { sharedSandboxVariable } from './harness/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));

function defaultFiles(): string[] {
  return ['unit', 'integration'].flatMap((folder) =>
    readdirSync(join(here, folder))
      .filter((name) => name.endsWith('.test.js'))
      .sort()
      .map((name) => join(here, folder, name)),
  );
}

async function main(): Promise<number> {
  const files = process.argv.length > 2 ? process.argv.slice(2) : defaultFiles();
  if (files.length === 0) {
    process.stderr.write('no test files found\n');
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-run-'));
  const started = Date.now();
  process.stderr.write(`starting the test sandbox in ${dir}\n`);
  const sandbox = startSandboxProcess(dir, { ownerPid: process.pid });
  const stop = async () => {
    await stopSandbox(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await sandbox.ready;
    process.stderr.write(`sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    // --test-force-exit: a file whose tests are over ends even if a process it started still runs (a fixture
    // that failed half-way): its exit handlers kill what it started, instead of the run waiting for ever
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', '--test-force-exit', ...files], {
      env: { ...process.env, [sharedSandboxVariable]: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let ran = 0;
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const summary = /^ℹ tests (\d+)$/.exec(line.trim());
        if (summary) ran = Number(summary[1]);
      }
    });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (ran === 0) {
      process.stderr.write('no test ran\n');
      return 1;
    }
    return code;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test run failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
