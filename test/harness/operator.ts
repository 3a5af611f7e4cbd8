/**
 * Runs the real `kubegate operator` process against the test sandbox, as the ServiceAccount and RBAC
 * that config/ installs (never as admin), with kubegate's CRDs and admission policies in place, and
 * with the sandbox's S3 settings: the test policies' `s3://kubegate-sessions/…` storage is the sandbox's
 * MinIO, where the operator writes the access ledger.
 */
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../src/sandbox/network.js';
import { spawnKubegate } from './kubegate-process.js';
import { sandboxS3Env } from './gateway.js';
import { installKubegate as installConfig } from '../../src/cli/dev/cluster.js';
import type { TestCluster } from './cluster.js';
import { refuseClientNode } from './refuse-client-node-hooks.js';

export const operatorNamespace = 'kubegate-system';

let installed: Promise<void> | undefined;

/** CRDs, the operator's namespace and RBAC, and the admission policies: once per test process. */
export function installKubegate(cluster: TestCluster): Promise<void> {
  installed ??= cluster.kubectl().then(installConfig);
  return installed;
}

/** A bearer token for a ServiceAccount (TokenRequest), creating the account when needed. */
export async function serviceAccountToken(cluster: TestCluster, namespace: string, name: string): Promise<string> {
  const kubectl = await cluster.kubectl();
  await kubectl.run(['create', 'namespace', namespace]);
  await kubectl.run(['create', 'serviceaccount', name, '-n', namespace]);
  return (await kubectl.ok(['create', 'token', name, '-n', namespace, '--duration=2h'])).trim();
}

/**
 * The console's own Role (as samples/dev/console.yaml gives it): it may ask for tokens of its own
 * ServiceAccount alone, the ones it shows the gateways' live events endpoints.
 */
export async function allowLiveEventsTokens(cluster: TestCluster, namespace: string, name: string): Promise<void> {
  const role = `${name}-live-token`;
  const objects = [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: role, namespace }, rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: [name], verbs: ['create'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: role, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role }, subjects: [{ kind: 'ServiceAccount', name, namespace }] },
  ];
  await (await cluster.kubectl()).ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

export interface RunningOperator {
  process: ChildProcess;
  healthUrl: string;
  logs(): string;
  /** SIGTERM and wait: a graceful stop that releases the Lease. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

/** `env`: over the sandbox's S3 settings (e.g. IRSA's variables in place of its static keys; a bench's `NODE_OPTIONS`). */
export async function startOperator(cluster: TestCluster, options: { leaderElect?: boolean; extraArgs?: string[]; waitReady?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RunningOperator> {
  await installKubegate(cluster);
  const token = await serviceAccountToken(cluster, operatorNamespace, 'kubegate-operator');
  const port = await freePort();
  // the operator must not load client-node (kube/client.ts says why): an import that reaches it fails here
  const child = spawnKubegate('operator', [
    'operator',
    `--kubeconfig=${cluster.kubeconfigFile(token)}`,
    `--namespace=${operatorNamespace}`,
    `--health-listen=127.0.0.1:${port}`,
    '--gateway-image=kubegate:test',
    ...(options.leaderElect ? ['--leader-elect'] : []),
    ...(options.extraArgs ?? []),
  ], { ...sandboxS3Env(cluster), ...options.env, NODE_OPTIONS: `${refuseClientNode().NODE_OPTIONS} ${options.env?.NODE_OPTIONS ?? ''}`.trim() });
  const healthUrl = `http://127.0.0.1:${port}`;
  const running: RunningOperator = {
    process: child.process,
    healthUrl,
    logs: child.logs,
    stop: async () => {
      child.process.kill('SIGTERM');
      await child.exited;
    },
    kill: async () => {
      child.process.kill('SIGKILL');
      await child.exited;
    },
  };
  if (options.waitReady ?? true) await child.waitReady(`${healthUrl}/readyz`);
  return running;
}
