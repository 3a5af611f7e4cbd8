/**
 * A kubeconfig user's exec credential plugin (`users[].user.exec`, as `aws eks get-token` writes it), run
 * the way kubectl runs it and refreshed ahead of its expiry and when the API server refuses it: the
 * gateway's kubeconfig (connection.ts) asks it for the credential of each request.
 *
 * (@kubernetes/client-node 2.x runs exec plugins itself, but keeps a credential until the very instant of
 * its `expirationTimestamp` — a request signed a moment before reaches the API server expired — and has
 * no way to drop one the API server answered 401 to.)
 */
import { spawn } from 'node:child_process';

/** The `exec` stanza of a kubeconfig user (client.authentication.k8s.io ExecConfig). */
export interface ExecConfig {
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }> | null;
  apiVersion?: string;
}

/** What a plugin prints (client.authentication.k8s.io ExecCredential), reduced to what is used. */
export interface ExecCredential {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  /** Milliseconds since the epoch; undefined: valid until the API server refuses it. */
  expiresAt?: number;
}

export type RunPlugin = (exec: ExecConfig) => Promise<string>;

/** Runs the plugin as kubectl does: KUBERNETES_EXEC_INFO set, its env added to ours, stdout is the credential. */
export function runPlugin(exec: ExecConfig): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify({ kind: 'ExecCredential', apiVersion: exec.apiVersion, spec: { interactive: false } }) };
  for (const { name, value } of exec.env ?? []) env[name] = value;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(exec.command, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(stdout) : reject(new Error(`exec credential plugin ${exec.command} exited ${code}: ${stderr.trim()}`))));
  });
}

export function parseExecCredential(output: string): ExecCredential {
  const status = (JSON.parse(output) as { status?: Record<string, string | undefined> }).status ?? {};
  if (!status.token && !(status.clientCertificateData && status.clientKeyData)) throw new Error('exec credential plugin printed neither a token nor a client certificate and key');
  const expiresAt = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : undefined;
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) throw new Error(`exec credential plugin printed an unreadable expirationTimestamp: ${status.expirationTimestamp}`);
  return { token: status.token, clientCertificateData: status.clientCertificateData, clientKeyData: status.clientKeyData, expiresAt };
}

/**
 * One plugin's current credential. It is used until 80% of its lifetime has passed (the share client-go
 * uses for rotating certificates), so no request leaves with a credential about to expire; one run of the
 * plugin at a time, shared by every request waiting for it.
 */
export class ExecCredentials {
  private current?: { credential: ExecCredential; refreshAt: number };
  private running?: Promise<ExecCredential>;
  /** How many times the plugin ran, for metrics and tests. */
  runs = 0;

  constructor(
    private readonly exec: ExecConfig,
    private readonly options: { now?: () => number; run?: RunPlugin } = {},
  ) {}

  /** When the current credential should be replaced (undefined: not before it is refused). */
  refreshAt(): number | undefined {
    return this.current && Number.isFinite(this.current.refreshAt) ? this.current.refreshAt : undefined;
  }

  /** The API server refused the credential sent as `authorization`: the next request runs the plugin, unless a newer credential is already here. */
  refused(authorization: string | undefined): void {
    const token = this.current?.credential.token;
    if (!token || authorization === `Bearer ${token}`) this.current = undefined;
  }

  async credential(): Promise<ExecCredential> {
    const now = this.options.now ?? Date.now;
    if (this.current && now() < this.current.refreshAt) return this.current.credential;
    this.running ??= this.fetch(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async fetch(now: () => number): Promise<ExecCredential> {
    const started = now();
    this.runs++;
    const credential = parseExecCredential(await (this.options.run ?? runPlugin)(this.exec));
    const refreshAt = credential.expiresAt === undefined ? Infinity : started + 0.8 * (credential.expiresAt - started);
    this.current = { credential, refreshAt };
    return credential;
  }
}
