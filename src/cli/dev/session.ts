/**
 * One `kubegate dev` run: its progress lines (each part, seconds since start), the sandbox and the
 * kubegate child processes it started (logs in DIR/logs), and stopping all of them in reverse order.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandboxProcess, stopSandbox, type StartingSandbox } from '../../sandbox/control.js';
import { ManagedProcess, processStartTime } from '../../sandbox/process.js';
import { answers200, waitUntil } from '../../sandbox/network.js';
import type { SandboxState } from '../../sandbox/sandbox.js';
import { sandboxDir, writeDevState } from './state.js';

const mainScript = fileURLToPath(new URL('../main.js', import.meta.url));

/** A part that failed to start, with the log that says why. */
export class PartFailed extends Error {
  constructor(
    readonly part: string,
    message: string,
    readonly logFile?: string,
  ) {
    // a wait's message ends with ':' before the log tail on its next lines: that tail is read from logFile
    super(`${part}: ${message.split('\n')[0]!.replace(/:$/, '')}`);
  }

  /** The last lines of the part's log. */
  logTail(lines = 10): string[] {
    if (!this.logFile || !existsSync(this.logFile)) return [];
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines);
  }
}

export class DevSession {
  readonly logDir: string;
  private readonly started = Date.now();
  private readonly children: ManagedProcess[] = [];
  private sandbox: StartingSandbox | undefined;

  constructor(readonly dir: string) {
    this.logDir = join(dir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
    this.saveState();
  }

  seconds(): string {
    return ((Date.now() - this.started) / 1000).toFixed(1);
  }

  progress(part: string, message: string): void {
    process.stderr.write(`[${this.seconds().padStart(5)}s] ${part}: ${message}\n`);
  }

  /** Starts the sandbox in DIR/sandbox (stopped with this process however it ends: its owner pid is ours). */
  async startSandbox(): Promise<SandboxState> {
    const folder = sandboxDir(this.dir);
    this.sandbox = startSandboxProcess(folder, { ownerPid: process.pid, onProgress: (message) => this.progress('sandbox', message) });
    // DIR/logs/sandbox: the sandbox's own logs beside the others (kept from an earlier run in DIR)
    try {
      symlinkSync(join(folder, 'logs'), join(this.logDir, 'sandbox'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      return await this.sandbox.ready;
    } catch (error) {
      throw new PartFailed('sandbox', (error as Error).message, join(folder, 'supervisor.log'));
    }
  }

  /** Runs `kubegate ARGS` as a child (its own process group, killed with us), output in DIR/logs/NAME.log. */
  startKubegate(name: string, args: string[], env: NodeJS.ProcessEnv = {}): ManagedProcess {
    const child = new ManagedProcess({ name, command: process.execPath, args: [mainScript, ...args], env }, this.logDir);
    this.children.push(child);
    this.saveState();
    return child;
  }

  /** Waits until the child's `url` answers 200; fails with its log when it exits or times out. */
  async waitReady(child: ManagedProcess, url: string): Promise<void> {
    await this.waitFor(child, `${url} to answer 200`, answers200({ url }));
  }

  async waitFor(child: ManagedProcess, what: string, check: () => Promise<true | string>): Promise<void> {
    try {
      await waitUntil(what, check, { timeoutMs: 60_000, process: child });
    } catch (error) {
      throw new PartFailed(child.name, (error as Error).message, child.logFile);
    }
  }

  /** Resolves with the first child that exits on its own. */
  firstExit(): Promise<ManagedProcess> {
    return Promise.race(this.children.map((child) => child.whenExited().then(() => child)));
  }

  /** Stops every child in reverse order of start, then the sandbox. */
  async stop(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop(10_000);
    // a sandbox still starting has no state file for stopSandbox to find yet
    if (!(await stopSandbox(sandboxDir(this.dir))) && this.sandbox) {
      this.sandbox.abort();
      await this.sandbox.ready.catch(() => undefined); // rejects once its supervisor has exited
    }
  }

  private saveState(): void {
    writeDevState({
      dir: this.dir,
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '',
      children: this.children.map((child) => ({ name: child.name, pid: child.pid, startTime: processStartTime(child.pid) ?? '' })),
    });
  }
}
