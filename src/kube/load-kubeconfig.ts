/**
 * The CLI's kubeconfig as client-node reads it (every auth method kubectl knows), for the commands that
 * still use client-node's generated APIs. The operator and the gateway read theirs without client-node
 * (kube/connection.ts).
 */
import * as k8s from '@kubernetes/client-node';

/** The user's kubeconfig: --kubeconfig, else $KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
export function loadKubeconfig(path?: string): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  if (path) config.loadFromFile(path);
  else config.loadFromDefault();
  return withConnectionPool(config);
}

type DispatcherFactory = (cluster: k8s.Cluster | null, options: Record<string, unknown>) => unknown;

/**
 * client-node 2.0 builds a new undici Agent — a new TLS connection — for every request, which costs ~8 ms
 * each on loopback and far more across a network. This keeps one keep-alive Agent per cluster and TLS
 * identity for the life of the KubeConfig. Token credentials travel in headers, so they may change
 * freely; a changed client certificate gets its own Agent.
 */
export function withConnectionPool(config: k8s.KubeConfig): k8s.KubeConfig {
  const target = config as unknown as { createDispatcher: DispatcherFactory; pooled?: boolean };
  if (target.pooled) return config;
  const create = target.createDispatcher.bind(config);
  const agents = new Map<string, unknown>();
  target.createDispatcher = (cluster, options) => {
    const key = JSON.stringify([cluster?.server, cluster?.proxyUrl, options.ca, options.cert, options.key, options.rejectUnauthorized, options.servername].map(String));
    if (!agents.has(key)) agents.set(key, create(cluster, options));
    return agents.get(key);
  };
  target.pooled = true;
  return config;
}
