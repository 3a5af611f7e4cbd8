/** The sandbox's kubectl, run to completion or started, with a fixed kubeconfig and optionally as another user: for kubegate dev and the tests. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Extra environment (e.g. KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false). */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export interface Identity {
  user: string;
  groups: string[];
}

export class Kubectl {
  constructor(
    readonly binary: string,
    readonly kubeconfig: string,
    private readonly impersonation: string[] = [],
    /** Ends every kubectl this one runs when aborted. */
    private readonly signal?: AbortSignal,
  ) {}

  /** The same kubectl impersonating `identity` (the admin kubeconfig may: `--as`, `--as-group`). */
  as(identity: Identity): Kubectl {
    return new Kubectl(this.binary, this.kubeconfig, ['--as', identity.user, ...identity.groups.flatMap((group) => ['--as-group', group])], this.signal);
  }

  /** Runs kubectl to completion, `input` on its stdin. */
  run(args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const child = this.start(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // a kubectl that exits without reading stdin closes the pipe (EPIPE): its exit code and stderr say why
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    return new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs kubectl and fails with its stderr unless it exits 0; returns stdout. */
  async ok(args: string[], options: KubectlOptions = {}): Promise<string> {
    const result = await this.run(args, options);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  /** Starts a long-running kubectl (port-forward, logs -f); the caller ends it. */
  start(args: string[], options: Pick<KubectlOptions, 'env'> = {}): ChildProcess {
    const child = spawn(this.binary, [...this.impersonation, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: this.kubeconfig, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: this.signal,
      killSignal: 'SIGKILL',
    });
    // an abort kills the child and is reported as an error: its exit says enough
    child.on('error', () => undefined);
    return child;
  }
}

/**
 * The local port of a started `kubectl port-forward`, once it prints "Forwarding from 127.0.0.1:N ->
 * remotePort"; rejects with its stderr if it exits first.
 */
export function forwardedLocalPort(forward: ChildProcess, remotePort: number): Promise<number> {
  const announced = new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${remotePort}\\b`);
  return new Promise((resolve, reject) => {
    let out = '';
    let errors = '';
    forward.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = announced.exec(out);
      if (match) resolve(Number(match[1]));
    });
    forward.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    forward.once('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}: ${errors.trim()}`)));
  });
}
