/**
 * A kubeconfig user's exec credential plugin (`users[].user.exec`, as `aws eks get-token` writes it), run
 * the way kubectl runs it and refreshed ahead of its expiry and when the API server refuses it.
 *
 * @kubernetes/client-node 2.x runs exec plugins itself, but keeps a credential until the very instant of
 * its `expirationTimestamp` (a request signed a moment before reaches the API server expired) and has no
 * way to drop one the API server answered 401 to. So a kubeconfig whose current user has a plugin has it
 * moved here: client-node finds no `exec` on the user and asks this authenticator instead (it has the
 * shape of client-node's `Authenticator`, which the package does not export).
 */
import { spawn } from 'node:child_process';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { RequestOptions } from 'node:https';
import type * as k8s from '@kubernetes/client-node';

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
    private readonly userName: string,
    private readonly exec: ExecConfig,
    private readonly options: { now?: () => number; run?: RunPlugin } = {},
  ) {}

  isAuthProvider(user: k8s.User): boolean {
    return user?.name === this.userName;
  }

  async applyAuthentication(_user: k8s.User, opts: RequestOptions): Promise<void> {
    const credential = await this.credential();
    if (credential.clientCertificateData) opts.cert = credential.clientCertificateData;
    if (credential.clientKeyData) opts.key = credential.clientKeyData;
    if (credential.token) opts.headers = { ...opts.headers, Authorization: `Bearer ${credential.token}` };
  }

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

const installed = new WeakMap<k8s.KubeConfig, ExecCredentials>();

/**
 * Moves the current user's exec plugin from client-node to an `ExecCredentials` (returned, and found
 * again with `execCredentialsOf`). A relative command with a slash is resolved against the kubeconfig's
 * folder, as kubectl does. Nothing changes for a user without one.
 */
export function refreshingExecCredentials(kubeconfig: k8s.KubeConfig, kubeconfigPath?: string): ExecCredentials | undefined {
  const user = kubeconfig.getCurrentUser();
  if (!user?.exec) return undefined;
  const exec = { ...(user.exec as ExecConfig) };
  if (kubeconfigPath && exec.command.includes('/') && !isAbsolute(exec.command)) exec.command = resolve(dirname(kubeconfigPath), exec.command);
  const credentials = new ExecCredentials(user.name, exec);
  const { exec: _moved, ...rest } = user;
  kubeconfig.users = kubeconfig.users.map((u) => (u === user ? (rest as k8s.User) : u));
  kubeconfig.addAuthenticator(credentials);
  installed.set(kubeconfig, credentials);
  return credentials;
}

export function execCredentialsOf(kubeconfig: k8s.KubeConfig): ExecCredentials | undefined {
  return installed.get(kubeconfig);
}
