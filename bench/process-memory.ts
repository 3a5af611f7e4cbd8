/** Resident memory of benchmarked processes (each with its descendants: a gateway's workers), from /proc (Linux). */
import { readFileSync, writeFileSync } from 'node:fs';
import { processTree } from './process-tree.js';

function ownStatusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0; // the process has gone
  }
}

/** The field summed over the process and its descendants (for VmHWM, an upper bound of their joint peak). */
function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return processTree(pid).reduce((sum, member) => sum + ownStatusField(member, field), 0);
}

/** Resident set size in MiB of the process alone (not its descendants), 0 once it has gone. */
export function ownRssMiB(pid: number): number {
  return ownStatusField(pid, 'VmRSS');
}

/** Resident set size in MiB of the process and its descendants, 0 once it has gone. */
export function rssMiB(pid: number): number {
  return statusField(pid, 'VmRSS');
}

export interface MemoryPeak {
  baselineMiB: number;
  peakMiB: number;
  growthMiB: number;
}

/**
 * Peak resident memory of a process while something runs: sampled every `intervalMs`, and — where the
 * kernel lets us reset it (writing 5 to clear_refs, as root) — the kernel's own high-water mark, which
 * also catches a spike shorter than the interval.
 */
export async function peakMemoryDuring<T>(pid: number, work: () => Promise<T>, intervalMs = 50): Promise<{ result: T; memory: MemoryPeak }> {
  let highWaterMarkReset = true;
  try {
    for (const member of processTree(pid)) writeFileSync(`/proc/${member}/clear_refs`, '5');
  } catch {
    highWaterMarkReset = false;
  }
  const baselineMiB = rssMiB(pid);
  let peakMiB = baselineMiB;
  const sampler = setInterval(() => (peakMiB = Math.max(peakMiB, rssMiB(pid))), intervalMs);
  try {
    const result = await work();
    peakMiB = Math.max(peakMiB, rssMiB(pid), highWaterMarkReset ? statusField(pid, 'VmHWM') : 0);
    return { result, memory: { baselineMiB, peakMiB, growthMiB: peakMiB - baselineMiB } };
  } finally {
    clearInterval(sampler);
  }
}
