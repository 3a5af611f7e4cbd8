/**
 * `kubectl proxy`: Kubernetes' own Go reverse proxy (the test binaries' kubectl) as a second peer, on
 * loopback, as the direct user (same rights, same authentication at the API server, no impersonation).
 * It speaks plain HTTP toward its client, so it pays no TLS on that side: a lower bound for any proxy.
 * `--disable-filter` lets exec and port-forward through (its default filter refuses them).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPeer, type RunningPeer } from './peer-process.js';

/** a kubeconfig through the proxy is plain HTTP with no credentials: the proxy adds its own */
export type RunningKubectlProxy = RunningPeer;

export function startKubectlProxy(kubectl: string, kubeconfig: string): Promise<RunningKubectlProxy> {
  return startPeer({
    name: 'kubectl-proxy',
    command: kubectl,
    args: ['proxy', '--port=0', '--address=127.0.0.1', '--disable-filter=true', `--kubeconfig=${kubeconfig}`],
    dir: mkdtempSync(join(tmpdir(), 'kubegate-kubectl-proxy-')),
    announcement: /Starting to serve on (\S+:\d+)/,
    url: (match) => `http://${match[1]}`,
    cluster: {},
    user: {},
  });
}
