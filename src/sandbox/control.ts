/**
 * The outside view of a sandbox folder: `up` starts a supervisor and returns once everything is ready,
 * `down` stops it, `env` prints shell exports. The pid in `sandbox.json` is trusted only after checking
 * that it is still the same supervisor process (its command line and start time).
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isAlive, processStartTime, signalGroup } from './process.js';
import { kubectlDir, stateFileName, type SandboxState } from './sandbox.js';
import type { SupervisorMessage } from './supervisor.js';

const supervisorScript = new URL('./supervisor.js', import.meta.url);

export interface UpOptions {
  /** Stop the sandbox when this process dies (test runs). */
  ownerPid?: number;
  onProgress?: (message: string) => void;
}

export interface StartingSandbox {
  ready: Promise<SandboxState>;
  /** Stops a sandbox that is still starting (Ctrl-C during `up`). */
  abort(): void;
}

/** Starts a sandbox in `dir`; fails if one is already running there. */
export function startSandboxProcess(dir: string, options: UpOptions = {}): StartingSandbox {
  const folder = resolve(dir);
  const running = readLiveState(folder);
  if (running) throw new Error(`a sandbox is already running in ${folder} (supervisor pid ${running.supervisor.pid}); run 'kubegate sandbox down --dir ${dir}' first`);
  mkdirSync(folder, { recursive: true });
  const log = openSync(join(folder, 'supervisor.log'), 'a');
  const args = ['--dir', folder, ...(options.ownerPid ? ['--owner-pid', String(options.ownerPid)] : [])];
  const child = fork(supervisorScript, args, { detached: true, stdio: ['ignore', log, log, 'ipc'] });
  closeSync(log);
  const ready = new Promise<SandboxState>((resolvePromise, reject) => {
    child.on('message', (message: SupervisorMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.message);
      else if (message.type === 'failed') reject(new Error(`sandbox failed to start: ${message.message}`));
      else if (message.type === 'ready') {
        child.disconnect();
        child.unref();
        resolvePromise(message.state);
      }
    });
    child.once('exit', (code) => reject(new Error(`sandbox supervisor exited (code ${code}); see ${join(folder, 'supervisor.log')}`)));
  });
  return { ready, abort: () => child.pid && signalGroup(child.pid, 'SIGTERM') };
}

/** The state of a running sandbox in `dir`, or undefined when none runs there (a stale file is ignored). */
export function readLiveState(dir: string): SandboxState | undefined {
  const file = join(resolve(dir), stateFileName);
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as SandboxState;
  return isOurSupervisor(state) ? state : undefined;
}

function isOurSupervisor(state: SandboxState): boolean {
  const { pid, startTime } = state.supervisor;
  if (!isAlive(pid) || processStartTime(pid) !== startTime) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.some((arg) => arg.endsWith('supervisor.js')) && cmdline.includes(state.dir);
  } catch {
    return false;
  }
}

/** Stops the sandbox in `dir` and anything it left behind. Returns false when nothing was running. */
export async function stopSandbox(dir: string, timeoutMs = 30_000): Promise<boolean> {
  const file = join(resolve(dir), stateFileName);
  if (!existsSync(file)) return false;
  const state = JSON.parse(readFileSync(file, 'utf8')) as SandboxState;
  let stopped = false;
  if (isOurSupervisor(state)) {
    stopped = true;
    process.kill(state.supervisor.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (isAlive(state.supervisor.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    signalGroup(state.supervisor.pid, 'SIGKILL');
  }
  // A supervisor killed outright takes its children with it (parent-death signal); this catches the rest.
  for (const component of state.components) {
    if (isAlive(component.pid) && processStartTime(component.pid) === component.startTime) {
      stopped = true;
      signalGroup(component.pid, 'SIGKILL');
    }
  }
  rmSync(file, { force: true });
  return stopped;
}

/** Shell exports for using the sandbox: kubectl and kubeconfig, S3 settings, kubegate's store. */
export function envExports(state: SandboxState): string {
  const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
  const exports: Record<string, string> = {
    KUBECONFIG: state.kubeconfig,
    AWS_ENDPOINT_URL_S3: state.s3.endpoint,
    AWS_REGION: state.s3.region,
    AWS_ACCESS_KEY_ID: state.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: state.s3.secretAccessKey,
    KUBEGATE_STORE: state.store,
    // IRSA through MinIO's STS: a ServiceAccount token with a role's audience assumes its ARN
    AWS_ENDPOINT_URL_STS: state.sts.endpoint,
    KUBEGATE_SANDBOX_GATEWAY_ROLE_ARN: state.sts.roles.gateway.arn,
    KUBEGATE_SANDBOX_OPERATOR_ROLE_ARN: state.sts.roles.operator.arn,
    KUBEGATE_SANDBOX_AUDITOR_ROLE_ARN: state.sts.roles.auditor.arn,
  };
  const lines = Object.entries(exports).map(([name, value]) => `export ${name}=${quote(value)}`);
  lines.push(`export PATH=${quote(kubectlDir(state))}:"$PATH"`);
  return lines.join('\n') + '\n';
}
