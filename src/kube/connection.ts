/**
 * The gateway's and the operator's kubeconfig: the API server of the current context and the process's
 * own credentials, read without @kubernetes/client-node (see raw-client.ts for why). It reads the subset
 * a gateway or an operator is given — a server with its CA (`certificate-authority[-data]`, `insecure-skip-tls-verify`,
 * `tls-server-name`); a user with a `token`, a `tokenFile` (re-read, as the kubelet rotates projected
 * ServiceAccount tokens), a client certificate and key (`client-certificate[-data]`,
 * `client-key[-data]`) or an `exec` plugin — or the pod's ServiceAccount in a cluster. Anything else
 * (`auth-provider`, basic auth, impersonation, `proxy-url`) is refused at start with an error naming it,
 * rather than sending requests without it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { RequestOptions } from 'node:https';
import { parse } from 'yaml';
import { ExecCredentials, type ExecConfig } from './exec-credential.js';

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

type Credential = { token: string } | { tokenFile: string } | { exec: ExecCredentials } | Record<string, never>;

interface ClusterTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export class KubeConnection {
  constructor(
    readonly server: string,
    private readonly tls: ClusterTls,
    private readonly credential: Credential,
  ) {}

  /** The exec plugin that supplies the credential, if one does (refreshed ahead of expiry and when refused). */
  get exec(): ExecCredentials | undefined {
    return 'exec' in this.credential ? this.credential.exec : undefined;
  }

  /** The shape of client-node's, so a `RawKubeClient` takes either. */
  getCurrentCluster(): { server: string } {
    return { server: this.server };
  }

  /** Sets the TLS options and the credential of a request now (a token file is read, an exec plugin run if due). */
  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    Object.assign(options, this.tls);
    const credential = this.credential;
    let token: string | undefined;
    if ('token' in credential) token = credential.token;
    else if ('tokenFile' in credential) token = (await readFile(credential.tokenFile, 'utf8')).trim();
    else if ('exec' in credential) {
      const issued = await credential.exec.credential();
      token = issued.token;
      if (issued.clientCertificateData) options.cert = issued.clientCertificateData;
      if (issued.clientKeyData) options.key = issued.clientKeyData;
    }
    if (token) options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
  }
}

/** The ServiceAccount files of a pod. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Inside a cluster: the API server's service address, the pod's ServiceAccount token (re-read) and CA. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = serviceAccountDir): KubeConnection {
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = env;
  if (!host || !port) throw new KubeconfigError('not in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset): pass --kubeconfig');
  return new KubeConnection(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, { ca: readFileSync(join(dir, 'ca.crt')) }, { tokenFile: join(dir, 'token') });
}

/**
 * The kubeconfig kubectl would use: `path`, else the one file $KUBECONFIG names, else ~/.kube/config, else
 * the pod's ServiceAccount. Several files in $KUBECONFIG (kubectl merges them) are refused, not half-read.
 */
export function defaultConnection(path?: string, env: NodeJS.ProcessEnv = process.env, home = homedir()): KubeConnection {
  if (path) return connectionFromKubeconfigFile(path);
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length > 1) throw new KubeconfigError(`$KUBECONFIG names ${files.length} files, which would have to be merged: pass one with --kubeconfig`);
  if (files.length === 1) return connectionFromKubeconfigFile(files[0]!);
  const own = join(home, '.kube', 'config');
  return existsSync(own) ? connectionFromKubeconfigFile(own) : inClusterConnection(env);
}

/** The current context of the kubeconfig file at `path`. */
export function connectionFromKubeconfigFile(path: string): KubeConnection {
  return connectionFromKubeconfig(parse(readFileSync(path, 'utf8')), dirname(resolve(path)));
}

type Named<T> = Array<{ name: string } & T> | undefined;
interface KubeconfigDocument {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>;
  clusters?: Named<{ cluster?: Record<string, unknown> }>;
  users?: Named<{ user?: Record<string, unknown> }>;
}

const supported = {
  cluster: ['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions'],
  user: ['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'exec', 'extensions'],
};

/**
 * The current context of a parsed kubeconfig; files it names by a relative path are `baseDir`'s, as
 * kubectl reads them (so is an exec plugin's relative command with a slash).
 */
export function connectionFromKubeconfig(document: unknown, baseDir: string): KubeConnection {
  const config = (document ?? {}) as KubeconfigDocument;
  const contextName = config['current-context'];
  if (!contextName) throw new KubeconfigError('the kubeconfig has no current-context');
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new KubeconfigError(`the kubeconfig has no context "${contextName}"`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw new KubeconfigError(`the kubeconfig has no cluster "${context.cluster}" with a server`);
  const user = context.user === undefined ? {} : config.users?.find((u) => u.name === context.user)?.user;
  if (!user) throw new KubeconfigError(`the kubeconfig has no user "${context.user}"`);
  refuseUnsupported('cluster', context.cluster!, cluster);
  refuseUnsupported('user', context.user!, user);
  const file = (key: string, from: Record<string, unknown>): Buffer | undefined => {
    const data = from[`${key}-data`];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const path = from[key];
    return typeof path === 'string' ? readFileSync(isAbsolute(path) ? path : join(baseDir, path)) : undefined;
  };
  const tls: ClusterTls = {
    ...defined('ca', file('certificate-authority', cluster)),
    ...defined('cert', file('client-certificate', user)),
    ...defined('key', file('client-key', user)),
    ...defined('servername', cluster['tls-server-name'] as string | undefined),
    ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
  };
  return new KubeConnection(cluster.server, tls, credentialOf(user, baseDir));
}

function credentialOf(user: Record<string, unknown>, baseDir: string): Credential {
  if (typeof user.token === 'string') return { token: user.token };
  if (typeof user.tokenFile === 'string') return { tokenFile: isAbsolute(user.tokenFile) ? user.tokenFile : join(baseDir, user.tokenFile) };
  if (user.exec) {
    const exec = { ...(user.exec as ExecConfig) };
    if (exec.command.includes('/') && !isAbsolute(exec.command)) exec.command = resolve(baseDir, exec.command);
    return { exec: new ExecCredentials(exec) };
  }
  return {};
}

function refuseUnsupported(kind: 'cluster' | 'user', name: string, entry: Record<string, unknown>): void {
  const unknown = Object.keys(entry).filter((key) => !supported[kind].includes(key));
  if (unknown.length > 0) {
    throw new KubeconfigError(`the kubeconfig's ${kind} "${name}" uses ${unknown.join(', ')}, which kubegate's gateway and operator do not support (they take ${supported[kind].filter((key) => key !== 'extensions').join(', ')})`);
  }
}

function defined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
