/**
 * Names, labels and annotations that several parts agree on: the operator writes objects under these
 * names, the gateway and the CLI find them by the same names. Defined once here, so the parts never
 * reach into each other for them.
 */

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

/** Cluster-scoped children cannot be owned by a namespaced policy: named after it, removed by its finalizer. */
export function impersonationRoleName(policy: { namespace: string; name: string }): string {
  return `kubegate-gateway-${policy.namespace}-${policy.name}-impersonate`;
}

/** The Secret holding a grant's kubeconfig: `spec.kubeconfigSecret`, or `<grant>-kubeconfig`. */
export function kubeconfigSecretName(grant: { metadata?: { name?: string }; spec: { kubeconfigSecret?: string } }): string {
  return grant.spec.kubeconfigSecret ?? `${grant.metadata!.name}-kubeconfig`;
}
