/**
 * How long `kubegate sandbox up` takes with cached binaries, and how much memory a running sandbox uses,
 * per program. Run: npm run build && node dist/bench/sandbox-startup.js [rounds=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import type { SandboxState } from '../src/sandbox/sandbox.js';
import { rssMiB } from './process-memory.js';

function memory(state: SandboxState): Record<string, number> {
  const usage: Record<string, number> = { supervisor: rssMiB(state.supervisor.pid) };
  for (const component of state.components) usage[component.name] = rssMiB(component.pid);
  return usage;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const times: number[] = [];
  let settled: Record<string, number> = {};
  for (let round = 0; round < rounds; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
    const started = Date.now();
    try {
      const state = await startSandboxProcess(dir, { ownerPid: process.pid }).ready;
      times.push((Date.now() - started) / 1000);
      if (round === rounds - 1) {
        await new Promise((resolve) => setTimeout(resolve, 15_000)); // let caches and controllers settle
        settled = memory(state);
      }
    } finally {
      await stopSandbox(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`sandbox up (warm binaries), ${rounds} rounds: ${times.map((t) => t.toFixed(1)).join(' s, ')} s; median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} s`);
  console.log('resident memory 15 s after ready (MiB):');
  for (const [name, mib] of Object.entries(settled)) console.log(`  ${name.padEnd(24)} ${mib.toFixed(0).padStart(6)}`);
  console.log(`  ${'total'.padEnd(24)} ${Object.values(settled).reduce((a, b) => a + b, 0).toFixed(0).padStart(6)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
