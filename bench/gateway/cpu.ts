/**
 * CPU time of benchmarked processes from /proc (Linux). On a machine shared with other work, wall-clock
 * throughput says as much about the neighbours as about the proxy; the CPU a process spent per request
 * served does not.
 */
import { readFileSync } from 'node:fs';
import { processTree } from '../process-tree.js';

const ticksPerSecond = 100; // USER_HZ: 100 on every Linux architecture Node runs on

/** utime + stime (or just stime, the kernel's share) of one process in seconds, 0 once it has gone. */
function ownCpuSeconds(pid: number, kernelOnly = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after its closing one
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((kernelOnly ? 0 : Number(fields[11])) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}

/** CPU seconds of a process and its live descendants (a gateway's primary and its workers). */
export function cpuSeconds(pid: number, kernelOnly = false): number {
  return processTree(pid).reduce((sum, member) => sum + ownCpuSeconds(member, kernelOnly), 0);
}

/** Runs `work`, returning its result and the CPU seconds each pid (with its descendants) spent meanwhile. */
export async function cpuDuring<T, K extends string>(pids: Record<K, number>, work: () => Promise<T>): Promise<{ result: T; cpu: Record<K, number>; kernel: Record<K, number> }> {
  const entries = Object.entries(pids) as Array<[K, number]>;
  const before = entries.map(([, pid]) => [cpuSeconds(pid), cpuSeconds(pid, true)] as const);
  const result = await work();
  const spent = (kernelOnly: boolean) => Object.fromEntries(entries.map(([name, pid], i) => [name, cpuSeconds(pid, kernelOnly) - before[i]![kernelOnly ? 1 : 0]])) as Record<K, number>;
  return { result, cpu: spent(false), kernel: spent(true) };
}

/**
 * CPU seconds per second a process spends while nothing is asked of it (an API server's controllers,
 * leases and watches): subtracted from what it spends under load, so that a slower path, over whose fewer
 * requests that background spreads, is not charged more per request for it.
 */
export async function idleCpuRate(pid: number, milliseconds = 3000): Promise<number> {
  const before = cpuSeconds(pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, milliseconds));
  return (cpuSeconds(pid) - before) / ((performance.now() - started) / 1000);
}

/** `cpuDuring` for the API server, less its idle background over the same time. */
export async function cpuDuringLessIdle<T, K extends string>(pids: Record<K, number>, idle: Partial<Record<K, number>>, work: () => Promise<T>): Promise<{ result: T; cpu: Record<K, number>; kernel: Record<K, number> }> {
  const started = performance.now();
  const measured = await cpuDuring(pids, work);
  const seconds = (performance.now() - started) / 1000;
  for (const [name, rate] of Object.entries(idle) as Array<[K, number]>) measured.cpu[name] = Math.max(0, measured.cpu[name] - rate * seconds);
  return measured;
}
