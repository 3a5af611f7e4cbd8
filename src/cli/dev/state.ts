/**
 * The state file of a running `kubegate dev` (DIR/dev.json): its pid and start time and those of its
 * children, so that `kubegate dev down --dir DIR` from another shell stops it, and a second `kubegate dev`
 * on the same DIR refuses. The pid is trusted only while it is still the same process (start time and
 * command line), as the sandbox's own state file is.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopSandbox } from '../../sandbox/control.js';
import { isAlive, processStartTime, signalGroup } from '../../sandbox/process.js';

export interface DevState {
  dir: string;
  pid: number;
  startTime: string;
  children: Array<{ name: string; pid: number; startTime: string }>;
}

const stateFile = (dir: string) => join(dir, 'dev.json');

/** The folder of the sandbox `kubegate dev` runs in DIR. */
export const sandboxDir = (dir: string) => join(dir, 'sandbox');

export function writeDevState(state: DevState): void {
  writeFileSync(stateFile(state.dir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

export function removeDevState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

/** The state of a `kubegate dev` running in `dir` (absolute), or undefined when none is (a stale file is ignored). */
export function liveDevState(dir: string): DevState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as DevState;
  return isSameProcess(state.pid, state.startTime) && isDevCommand(state.pid) ? state : undefined;
}

function isSameProcess(pid: number, startTime: string): boolean {
  return isAlive(pid) && processStartTime(pid) === startTime;
}

function isDevCommand(pid: number): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((arg) => arg.endsWith('main.js')) && args.includes('dev');
  } catch {
    return false;
  }
}

/**
 * Stops the `kubegate dev` of `dir` (absolute): SIGTERM, which stops its children and sandbox in order;
 * SIGKILL after `timeoutMs`, then whatever it left (children, sandbox). Returns false when nothing ran.
 */
export async function stopDev(dir: string, timeoutMs = 60_000): Promise<boolean> {
  if (!existsSync(stateFile(dir))) return stopSandbox(sandboxDir(dir));
  const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as DevState;
  let stopped = false;
  if (isSameProcess(state.pid, state.startTime) && isDevCommand(state.pid)) {
    stopped = true;
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (isAlive(state.pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  }
  for (const child of state.children) {
    if (isSameProcess(child.pid, child.startTime)) {
      stopped = true;
      signalGroup(child.pid, 'SIGKILL');
    }
  }
  stopped = (await stopSandbox(sandboxDir(dir))) || stopped;
  removeDevState(dir);
  return stopped;
}
