/** Kubernetes Events (events.k8s.io/v1) about the objects the operator reconciles, as `kubectl describe` shows them. */
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../kube/client.js';

export interface EventRecorder {
  record(regarding: k8s.KubernetesObject, type: 'Normal' | 'Warning', reason: string, note: string): Promise<void>;
}

export function eventRecorder(clients: KubeClients, instance: string, log: (message: string, error: unknown) => void): EventRecorder {
  return {
    async record(regarding, type, reason, note) {
      const namespace = regarding.metadata?.namespace ?? 'default';
      const now = new Date();
      try {
        await clients.events.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name: `${regarding.metadata?.name}.${randomBytes(6).toString('hex')}`, namespace },
            // MicroTime wants exactly six fractional digits; a Date would be sent with three
            eventTime: now.toISOString().replace(/Z$/, '000Z') as unknown as k8s.V1MicroTime,
            reportingController: 'kubegate.dev/operator',
            reportingInstance: instance,
            action: reason,
            reason,
            note: note.slice(0, 1024),
            type,
            regarding: {
              apiVersion: regarding.apiVersion,
              kind: regarding.kind,
              name: regarding.metadata?.name,
              namespace: regarding.metadata?.namespace,
              uid: regarding.metadata?.uid,
            },
          },
        });
      } catch (error) {
        // an event is a courtesy to the reader: failing to write one must not fail a reconcile
        log(`event ${reason} on ${namespace}/${regarding.metadata?.name} not recorded`, error);
      }
    },
  };
}
