/** A process and its live descendants, from /proc (Linux): a gateway is a primary and its workers. */
import { readFileSync, readdirSync } from 'node:fs';

export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
  } catch {
    // the process has gone
  }
  return [pid, ...children.flatMap(processTree)];
}
