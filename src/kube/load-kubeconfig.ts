import * as k8s from '@kubernetes/client-node';

/** The user's kubeconfig: --kubeconfig, else $KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
export function loadKubeconfig(path?: string): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  if (path) config.loadFromFile(path);
  else config.loadFromDefault();
  return config;
}
