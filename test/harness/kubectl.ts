import { spawn, type ChildProcess } from 'node:child_process';
import { kubectlBinary } from '../../src/sandbox/binaries.js';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

/** The real kubectl binary with a fixed kubeconfig. */
export class Kubectl {
  constructor(
    readonly binary: string,
    readonly kubeconfig: string,
  ) {}

  private environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: this.kubeconfig, ...extra };
  }

  /** The pinned kubectl of `version` (one of testedKubectlVersions()) with `kubeconfig`. */
  static atVersion(version: string, kubeconfig: string): Kubectl {
    return new Kubectl(kubectlBinary(version), kubeconfig);
  }

  /** Runs kubectl to completion. */
  run(args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
    const child = spawn(this.binary, args, { env: this.environment(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // a kubectl that exits without reading stdin closes the pipe (EPIPE): its exit code and stderr say why
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
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

  /** Starts a long-running kubectl (port-forward, logs -f); the caller kills it. */
  start(args: string[], options: KubectlOptions = {}): ChildProcess {
    return spawn(this.binary, args, { env: this.environment(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
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
