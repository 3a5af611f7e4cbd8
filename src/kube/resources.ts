/** The custom resources the operator reads and writes, JSON over the raw client. */
import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from './client.js';
import { namespacedPath, type CustomResource } from './custom-resources.js';

// the names and shapes, apart: the gateway reads them without loading client-node
export { accessGrants, apiVersionOf, approvalRequests, namespacedPath, ownerReference, sessionPolicies, type CustomResource } from './custom-resources.js';

export async function getCustom<T>(clients: KubeClients, resource: CustomResource, namespace: string, name: string): Promise<T> {
  return clients.raw.requestJson<T>('GET', namespacedPath(resource, namespace, name));
}

/**
 * Merge-patches the status subresource (never the spec). With `resourceVersion` the write is conditional:
 * it fails with 409 Conflict when the object changed since that version (a status decided from a cached,
 * possibly stale read must not land). Returns the object's new resourceVersion.
 */
export async function patchStatus(clients: KubeClients, resource: CustomResource, namespace: string, name: string, status: object, resourceVersion?: string): Promise<string> {
  const body = resourceVersion ? { metadata: { resourceVersion }, status } : { status };
  return resourceVersionOf(await clients.raw.patch(`${namespacedPath(resource, namespace, name)}/status`, body, 'application/merge-patch+json'));
}

/** Merge-patches metadata (finalizers) or spec; returns the object's new resourceVersion. */
export async function patchObject(clients: KubeClients, resource: CustomResource, namespace: string, name: string, body: object): Promise<string> {
  return resourceVersionOf(await clients.raw.patch(namespacedPath(resource, namespace, name), body, 'application/merge-patch+json'));
}

/**
 * Adds or removes one finalizer, under the object's resourceVersion (a merge patch replaces the whole
 * list, so a concurrent change by someone else must fail and be retried, not be overwritten). Keeps
 * `object.metadata` current (finalizers, resourceVersion), so a later conditional write can follow.
 */
export async function setFinalizer(clients: KubeClients, resource: CustomResource, object: k8s.KubernetesObject, finalizer: string, present: boolean): Promise<void> {
  const finalizers = object.metadata?.finalizers ?? [];
  if (finalizers.includes(finalizer) === present) return;
  const next = present ? [...finalizers, finalizer] : finalizers.filter((f) => f !== finalizer);
  const resourceVersion = await patchObject(clients, resource, object.metadata!.namespace!, object.metadata!.name!, { metadata: { finalizers: next, resourceVersion: object.metadata!.resourceVersion } });
  object.metadata = { ...object.metadata, finalizers: next, resourceVersion };
}

function resourceVersionOf(object: unknown): string {
  return (object as k8s.KubernetesObject).metadata!.resourceVersion!;
}
