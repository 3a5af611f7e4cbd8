/** The kubegate custom resources: their names, API paths and owner references (no client library needed). */
import type * as k8s from '@kubernetes/client-node';

export interface CustomResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

const kubegate = { group: 'kubegate.dev', version: 'v1alpha1' };
export const accessGrants: CustomResource = { ...kubegate, plural: 'accessgrants', kind: 'AccessGrant' };
export const approvalRequests: CustomResource = { ...kubegate, plural: 'approvalrequests', kind: 'ApprovalRequest' };
export const sessionPolicies: CustomResource = { ...kubegate, plural: 'sessionpolicies', kind: 'SessionPolicy' };

export function apiVersionOf(resource: CustomResource): string {
  return `${resource.group}/${resource.version}`;
}

/** The API path of `resource`'s collection in `namespace`, or of one object `name` there. */
export function namespacedPath(resource: CustomResource, namespace: string, name?: string): string {
  return `/apis/${apiVersionOf(resource)}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export function ownerReference(resource: CustomResource, object: k8s.KubernetesObject): k8s.V1OwnerReference {
  return {
    apiVersion: apiVersionOf(resource),
    kind: resource.kind,
    name: object.metadata!.name!,
    uid: object.metadata!.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}
