/**
 * Kubernetes Events (events.k8s.io/v1) about the objects the operator reconciles, as `kubectl describe`
 * shows them.
 *
 * Events are best-effort, as client-go's recorder makes them: `record` only queues, and a few writers send
 * the queue in the background, so a reconcile never waits for an Event (at 5,000 grants an awaited Event
 * was one more API round trip on every activation). When the API server falls behind and the queue is
 * full, new Events are dropped and counted (`kubegate_events_dropped_total`); a write that fails is
 * logged and not retried.
 */
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import type { KubeClients } from '../kube/client.js';

export interface EventRecorder {
  /** Queues an Event; never throws, never waits. */
  record(regarding: k8s.KubernetesObject, type: 'Normal' | 'Warning', reason: string, note: string): void;
}

export const eventRecorderDefaults = {
  /** Events waiting to be written; client-go's broadcaster queues as many. */
  queueCapacity: 1000,
  /** Events written at once: enough to keep up with a burst of activations (two fell behind at 16 workers). */
  writers: 4,
} as const;

export interface EventRecorderOptions {
  clients: KubeClients;
  /** `reportingInstance`: the operator replica. */
  instance: string;
  log: (message: string, error: unknown) => void;
  registry: Registry;
  queueCapacity?: number;
  writers?: number;
}

export function eventRecorder(options: EventRecorderOptions): EventRecorder {
  const { clients, instance, log } = options;
  const capacity = options.queueCapacity ?? eventRecorderDefaults.queueCapacity;
  const writers = options.writers ?? eventRecorderDefaults.writers;
  const dropped = new Counter({
    name: 'kubegate_events_dropped_total',
    help: 'Kubernetes Events not written because the event queue was full',
    registers: [options.registry],
  });
  const queue: k8s.EventsV1Event[] = [];
  let writing = 0;

  const write = async (event: k8s.EventsV1Event) => {
    try {
      await clients.raw.create(await clients.objects.path(event, false), event);
    } catch (error) {
      // an event is a courtesy to the reader: failing to write one must not fail anything else
      log(`event ${event.reason} on ${event.metadata!.namespace}/${event.regarding?.name} not recorded`, error);
    }
  };
  const drain = async () => {
    writing++;
    for (let event = queue.shift(); event; event = queue.shift()) await write(event);
    writing--;
  };

  return {
    record(regarding, type, reason, note) {
      if (queue.length >= capacity) {
        dropped.inc();
        return;
      }
      const namespace = regarding.metadata?.namespace ?? 'default';
      queue.push({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: `${regarding.metadata?.name}.${randomBytes(6).toString('hex')}`, namespace },
        // MicroTime wants exactly six fractional digits; a Date would be sent with three
        eventTime: new Date().toISOString().replace(/Z$/, '000Z') as unknown as k8s.V1MicroTime,
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
      });
      if (writing < writers) void drain();
    },
  };
}
