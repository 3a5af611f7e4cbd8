/**
 * The mark `kubegate sandbox up` leaves in the cluster it starts: a ConfigMap that says "this cluster is a
 * throwaway sandbox". Commands that write recorded calls into a cluster (`kubegate replay --to`) refuse a
 * cluster without it unless the user says they understand.
 */
import type { RawKubeClient } from './raw-client.js';

export const sandboxMarker = { namespace: 'kube-public', name: 'kubegate-sandbox' } as const;

export const sandboxMarkerPath = `/api/v1/namespaces/${sandboxMarker.namespace}/configmaps/${sandboxMarker.name}`;

/** The marker ConfigMap for a sandbox started at `startedAt` in folder `dir`. */
export function sandboxMarkerObject(dir: string, startedAt: string): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: sandboxMarker.name, namespace: sandboxMarker.namespace },
    data: { createdBy: 'kubegate sandbox up', dir, startedAt },
  };
}

export async function hasSandboxMarker(client: RawKubeClient): Promise<boolean> {
  return (await client.getJson(sandboxMarkerPath)) !== undefined;
}
