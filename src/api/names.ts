/**
 * Names, labels and annotations that several parts agree on: the operator writes objects under these
 * names, the gateway and the CLI find them by the same names. Defined once here, so the parts never
 * reach into each other for them.
 */
import { createHash } from 'node:crypto';
import type { AccessGrantSubject } from './types.generated.js';

/** On every object the operator makes for a grant (bindings, kubeconfig Secret, ApprovalRequest): the grant's uid. */
export const grantLabel = 'kubegate.dev/grant';
/** On a policy's gateway children: the policy's name. */
export const policyLabel = 'kubegate.dev/policy';
/** On the gateway's pod template: the compiled policy's version, so a new version rolls the pods. */
export const versionAnnotation = 'kubegate.dev/policy-version';
/** On cluster-scoped children, which cannot be owned by the namespaced policy: `namespace/name` of it. */
export const policyRefAnnotation = 'kubegate.dev/policy-ref';
/** Key of the JIT kubeconfig in a grant's kubeconfig Secret. */
export const kubeconfigSecretKey = 'kubeconfig';

/** Deployment, Service and ServiceAccount of a policy's gateway. */
export function gatewayName(policyName: string): string {
  return `kubegate-gateway-${policyName}`;
}

/** The Secret holding the gateway's CA and serving certificate. */
export function tlsSecretName(policyName: string): string {
  return `${gatewayName(policyName)}-tls`;
}

/** The ConfigMap holding the compiled policy and the token verification keys. */
export function policyConfigMapName(policyName: string): string {
  return `${gatewayName(policyName)}-policy`;
}

/** The Secret of the keys the gateway signs its recordings' manifests and checkpoints with (rotated by the operator). */
export function recordingSigningSecretName(policyName: string): string {
  return `${gatewayName(policyName)}-recording-signing`;
}

/** The ConfigMap of every public key the gateway's recordings were signed with (`keys.json`): what `sessions verify --keys` trusts. */
export function recordingKeysConfigMapName(policyName: string): string {
  return `${gatewayName(policyName)}-recording-keys`;
}

/** Cluster-scoped children cannot be owned by a namespaced policy: named after it, removed by its finalizer. */
export function impersonationRoleName(policy: { namespace: string; name: string }): string {
  return `kubegate-gateway-${policy.namespace}-${policy.name}-impersonate`;
}

/** One of the ClusterRoles a policy's impersonation rights are sharded over (`-impersonate-0` … `-impersonate-f`). */
export function impersonationShardRoleName(policy: { namespace: string; name: string }, shard: number): string {
  return `${impersonationRoleName(policy)}-${shard.toString(16)}`;
}

/** The name a ServiceAccount subject's kubeconfig Secret takes: `spec.kubeconfigSecret`, or `<grant>-kubeconfig`. */
export function kubeconfigSecretName(grant: { metadata?: { name?: string }; spec: { kubeconfigSecret?: string } }): string {
  return grant.spec.kubeconfigSecret ?? `${grant.metadata!.name}-kubeconfig`;
}

/** Where a grant's kubeconfig Secret lives; `reader` is the user or group given `get` on it there alone. */
export interface KubeconfigLocation {
  namespace: string;
  name: string;
  reader?: { kind: 'User' | 'Group'; name: string };
}

/**
 * Where a grant's kubeconfig is kept, so that only identities that could already act as its subject
 * read it: a ServiceAccount's in the ServiceAccount's own namespace (whose admins can run pods as it
 * anyway), a user's or group's in the operator's namespace, which no requester role reaches, under a
 * per-grant Role that lets that user or group alone `get` it. Its name there comes from the grant's
 * namespace and name (unique: a namespace name has no dot), never from anything the requester chose.
 */
export function kubeconfigLocation(
  grant: { metadata?: { namespace?: string; name?: string }; spec: { subject: AccessGrantSubject; kubeconfigSecret?: string } },
  operatorNamespace: string,
): KubeconfigLocation {
  const { subject } = grant.spec;
  if (subject.kind === 'ServiceAccount') return { namespace: subject.namespace!, name: kubeconfigSecretName(grant) };
  return { namespace: operatorNamespace, name: personalKubeconfigSecretName(grant.metadata!.namespace!, grant.metadata!.name!), reader: { kind: subject.kind, name: subject.name } };
}

/** The name of a User or Group subject's kubeconfig Secret in the operator's namespace. */
export function personalKubeconfigSecretName(grantNamespace: string, grantName: string): string {
  const readable = `kubeconfig.${grantNamespace}.${grantName}`;
  return readable.length <= 253 ? readable : `kubeconfig.${createHash('sha256').update(readable).digest('hex').slice(0, 32)}`;
}

/** The audience of the tokens the gateways' live events endpoints accept (the console asks for them). */
export const liveEventsAudience = 'kubegate-live-events';
