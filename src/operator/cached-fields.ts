/**
 * What the operator's informers keep of each object: only the fields a reader here uses. At 5,000
 * AccessGrants the managedFields alone were most of what the caches held, and the gateways' TLS Secrets
 * carried their private keys into memory for a CA certificate.
 */
import type * as k8s from '@kubernetes/client-node';

/** Metadata without managedFields (the field managers' bookkeeping, read by no reconciler). */
function slimMetadata(metadata: k8s.V1ObjectMeta | undefined): k8s.V1ObjectMeta | undefined {
  if (!metadata?.managedFields) return metadata;
  const { managedFields: _managedFields, ...rest } = metadata;
  return rest;
}

/** A kubegate resource as the reconcilers read it: everything but managedFields. */
export function withoutManagedFields<T extends k8s.KubernetesObject>(object: T): T {
  return { ...object, metadata: slimMetadata(object.metadata) };
}

/**
 * A gateway child as the policy reconciler's apply-skipping and predicates read it (kind, name,
 * resourceVersion, generation, labels, annotations, deletion) — and of the TLS Secret its CA certificate,
 * which every kubeconfig pins; never the keys.
 */
export function childFields(object: k8s.KubernetesObject): k8s.KubernetesObject {
  const kept: k8s.KubernetesObject & { data?: Record<string, string> } = { apiVersion: object.apiVersion, kind: object.kind, metadata: slimMetadata(object.metadata) };
  const ca = (object as k8s.V1Secret).data?.['ca.crt'];
  if (object.kind === 'Secret' && ca) kept.data = { 'ca.crt': ca };
  return kept;
}
