/**
 * The RBAC bindings of an Active grant: one RoleBinding per namespaced access entry, one
 * ClusterRoleBinding per cluster-wide entry, each binding only the grant's own group. Bindings live in
 * other namespaces than the grant, where owner references cannot point, so they carry the grant's uid
 * as a label and are removed by the grant's finalizer, at expiry and revocation, and by the safety sweep.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { grantLabel } from '../api/index.js';
import { grantGroup } from '../api/identity.js';
import { apply, createOrApply, deleteIfExists, notMissingNamespace, type KubeClients } from '../kube/client.js';
import { settleAll } from '../util/settle.js';

export const grantRefAnnotation = 'kubegate.dev/grant-ref';

export interface AccessEntry {
  namespace?: string;
  clusterRole?: string;
  role?: string;
}

export interface GrantIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export interface BindingRef {
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  namespace?: string;
  name: string;
}

function bindingName(grant: GrantIdentity, index: number): string {
  const base = `kubegate-${grant.namespace}-${grant.name}`;
  const suffix = createHash('sha256').update(`${grant.uid}/${index}`).digest('hex').slice(0, 8);
  return `${base.slice(0, 253 - suffix.length - 1)}-${suffix}`;
}

export function desiredBindings(grant: GrantIdentity, access: AccessEntry[]): Array<k8s.V1RoleBinding | k8s.V1ClusterRoleBinding> {
  return access.map((entry, index) => {
    const metadata: k8s.V1ObjectMeta = {
      name: bindingName(grant, index),
      labels: { [grantLabel]: grant.uid, 'app.kubernetes.io/managed-by': 'kubegate' },
      annotations: { [grantRefAnnotation]: `${grant.namespace}/${grant.name}` },
    };
    const subjects: k8s.RbacV1Subject[] = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: grantGroup(grant.namespace, grant.name) }];
    const roleRef: k8s.V1RoleRef = {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: entry.role ? 'Role' : 'ClusterRole',
      name: (entry.role ?? entry.clusterRole)!,
    };
    return entry.namespace
      ? { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { ...metadata, namespace: entry.namespace }, subjects, roleRef }
      : { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata, subjects, roleRef };
  });
}

export function bindingRef(binding: k8s.V1RoleBinding | k8s.V1ClusterRoleBinding): BindingRef {
  return binding.kind === 'RoleBinding'
    ? { kind: 'RoleBinding', namespace: binding.metadata!.namespace!, name: binding.metadata!.name! }
    : { kind: 'ClusterRoleBinding', name: binding.metadata!.name! };
}

/** Writes the grant's bindings; `fresh` (a grant turning Active now, whose bindings most likely do not exist yet) creates them. */
export async function applyBindings(clients: KubeClients, grant: GrantIdentity, access: AccessEntry[], options: { fresh?: boolean } = {}): Promise<BindingRef[]> {
  const bindings = desiredBindings(grant, access);
  const write = options.fresh ? createOrApply : apply;
  // every write settles first; a missing namespace is reported only when nothing worse failed
  await settleAll(bindings.map((binding) => write(clients, binding)), notMissingNamespace);
  return bindings.map(bindingRef);
}

/** A binding as the sweep and the finalizer read it: what names it, and the grant it was made for. */
function bindingIdentity(binding: k8s.KubernetesObject): k8s.KubernetesObject {
  const { name, namespace, labels, annotations } = binding.metadata ?? {};
  const only = (map: Record<string, string> | undefined, key: string) => (map?.[key] === undefined ? undefined : { [key]: map[key] });
  return { apiVersion: binding.apiVersion, kind: binding.kind, metadata: { name, namespace, labels: only(labels, grantLabel), annotations: only(annotations, grantRefAnnotation) } };
}

/**
 * Every binding labelled with this grant's uid (or with any grant's), wherever it is — read page by page
 * and kept only as `bindingIdentity`: the sweep lists thousands of them every minute.
 */
export async function listGrantBindings(clients: KubeClients, uid?: string): Promise<k8s.KubernetesObject[]> {
  const labelSelector = uid ? `${grantLabel}=${uid}` : grantLabel;
  const lists = await Promise.all(
    ['rolebindings', 'clusterrolebindings'].map((plural) => clients.raw.list(`/apis/rbac.authorization.k8s.io/v1/${plural}`, { labelSelector, transform: bindingIdentity })),
  );
  return lists.flatMap((list) => list.items);
}

/**
 * Deletes the grant's bindings: first those its `access` gave it, by name and at once, so that access ends
 * without waiting for a list (the names are the grant's: activation writes over whatever held them); then,
 * level-based, any other binding labelled with its uid, wherever it is.
 */
export async function deleteGrantBindings(clients: KubeClients, grant: GrantIdentity, access: AccessEntry[]): Promise<number> {
  const given = desiredBindings(grant, access).map(bindingIdentity);
  let deleted = (await Promise.all(given.map((binding) => deleteIfExists(clients, binding)))).filter(Boolean).length;
  const names = new Set(given.map((binding) => `${binding.kind}/${binding.metadata!.namespace}/${binding.metadata!.name}`));
  const listed = (await listGrantBindings(clients, grant.uid)).filter((binding) => !names.has(`${binding.kind}/${binding.metadata!.namespace}/${binding.metadata!.name}`));
  for (const binding of listed) {
    if (await deleteIfExists(clients, binding)) deleted++;
  }
  return deleted;
}
