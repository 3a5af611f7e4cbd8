/**
 * The JIT kubeconfig of an Active grant: the gateway's address and CA (pinned; never
 * insecure-skip-tls-verify) and a token that expires with the grant, in a Secret (key `kubeconfig`) at
 * the grant's `kubeconfigLocation` — readable only by identities that could already act as its subject.
 * The token is re-signed only when the grant's expiry or the gateway's CA changes.
 *
 * The operator writes and deletes only a Secret it made for this grant (labelled with the grant's uid):
 * a name that is taken by any other Secret — the signing keys, someone's password — is refused, never
 * overwritten and never deleted. New Secrets are created (never applied over an existing one), and an
 * update or delete carries the uid and resourceVersion it checked as preconditions.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { signJitToken, type SigningKey, type TokenSubject } from '../token/jit-token.js';
import { grantLabel, kubeconfigSecretKey, type KubeconfigLocation } from '../api/index.js';
import { kubeconfigYaml } from '../kube/kubeconfig-yaml.js';
import { apply, createOrApply, isConflict, isNotFound, readIfExists, type KubeClients } from '../kube/client.js';
import { grantRefAnnotation, type GrantIdentity } from './grant-bindings.js';

const expiresAnnotation = 'kubegate.dev/token-expires-at';
const caAnnotation = 'kubegate.dev/gateway-ca-sha256';
/** On the Role and RoleBinding that let a user or group read its kubeconfig: the grant's uid. */
const readerLabel = 'kubegate.dev/kubeconfig-of';

export interface KubeconfigTarget {
  location: KubeconfigLocation;
  grant: GrantIdentity;
  subject: TokenSubject;
  policy: { namespace: string; name: string };
  gateway: { server: string; caPem: string };
  expiresAt: Date;
}

/** `written`/`unchanged`, or `taken`: a Secret of that name exists that this grant did not make. */
export type KubeconfigOutcome = 'written' | 'unchanged' | 'taken';

const secretRef = (location: KubeconfigLocation) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: location.name, namespace: location.namespace } });
const ownedBy = (object: k8s.KubernetesObject | undefined, uid: string, label = grantLabel) => object?.metadata?.labels?.[label] === uid;

/**
 * Writes the kubeconfig Secret unless the one in place already holds a token for this expiry and CA.
 * `knownOutdated` (a grant activated just now: no Secret can hold its new expiry) tries the create first
 * and reads only when the name turns out to be taken.
 */
export async function ensureKubeconfigSecret(clients: KubeClients, keys: SigningKey[], target: KubeconfigTarget, options: { knownOutdated?: boolean } = {}): Promise<KubeconfigOutcome> {
  const caFingerprint = createHash('sha256').update(target.gateway.caPem).digest('hex').slice(0, 32);
  const { location } = target;
  if (options.knownOutdated && (await write(clients, await kubeconfigSecret(keys, target, caFingerprint)))) return readable(clients, target, 'written', createOrApply);
  const existing = await readIfExists<k8s.V1Secret>(clients, secretRef(location));
  if (existing && !ownedBy(existing, target.grant.uid)) return 'taken';
  const annotations = existing?.metadata?.annotations ?? {};
  if (existing?.data?.[kubeconfigSecretKey] && annotations[expiresAnnotation] === target.expiresAt.toISOString() && annotations[caAnnotation] === caFingerprint) return readable(clients, target, 'unchanged');
  // the update is conditional on the resourceVersion read: a Secret changed since (by anyone) fails it with 409, and the retry reads it again
  if (!(await write(clients, await kubeconfigSecret(keys, target, caFingerprint), existing))) throw new Error(`Secret ${location.namespace}/${location.name} appeared while the kubeconfig was written; retrying`);
  // an Active grant's new Secret may follow a changed spec.kubeconfigSecret: the one under the earlier name goes
  if (!location.reader) await deleteOwnSecrets(clients, location, target.grant.uid, location.name);
  return readable(clients, target, 'written');
}

/**
 * Lets a User or Group subject read the Secret, once it is known to be this grant's (never before: the
 * Role names the Secret, whoever's it is). Applied on every pass, so a failure after the write heals;
 * created (`createOrApply`) after a Secret created just now, when they most likely do not exist yet.
 */
async function readable(clients: KubeClients, target: KubeconfigTarget, outcome: KubeconfigOutcome, write = apply): Promise<KubeconfigOutcome> {
  await Promise.all(readerRole(target).map((object) => write(clients, object)));
  return outcome;
}

/** Creates the Secret (or replaces `existing` at its resourceVersion); false when its name was taken meanwhile. */
async function write(clients: KubeClients, secret: k8s.V1Secret, existing?: k8s.V1Secret): Promise<boolean> {
  try {
    if (existing) await clients.raw.requestJson('PUT', await clients.objects.path(secret), { ...secret, metadata: { ...secret.metadata, resourceVersion: existing.metadata!.resourceVersion } });
    else await clients.raw.create(await clients.objects.path(secret, false), secret);
  } catch (error) {
    if (!existing && isConflict(error)) return false;
    throw error;
  }
  return true;
}

async function kubeconfigSecret(keys: SigningKey[], target: KubeconfigTarget, caFingerprint: string): Promise<k8s.V1Secret> {
  const { grant, location } = target;
  const { token } = await signJitToken(keys, { grant, subject: target.subject, policy: target.policy, expiresAt: target.expiresAt });
  const kubeconfig = kubeconfigYaml({ server: target.gateway.server, caPem: target.gateway.caPem, user: { token }, name: `kubegate-${grant.name}` });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: location.name,
      namespace: location.namespace,
      labels: { [grantLabel]: grant.uid, 'app.kubernetes.io/managed-by': 'kubegate' },
      annotations: { [expiresAnnotation]: target.expiresAt.toISOString(), [caAnnotation]: caFingerprint, [grantRefAnnotation]: `${grant.namespace}/${grant.name}` },
      // an owner reference cannot cross namespaces; elsewhere the grant's finalizer removes the Secret
      ...(location.namespace === grant.namespace
        ? { ownerReferences: [{ apiVersion: 'kubegate.dev/v1alpha1', kind: 'AccessGrant', name: grant.name, uid: grant.uid, controller: true, blockOwnerDeletion: true }] }
        : {}),
    },
    type: 'Opaque',
    data: { [kubeconfigSecretKey]: Buffer.from(kubeconfig).toString('base64') },
  };
}

/** The Role and RoleBinding that let a User or Group subject (alone) `get` its kubeconfig Secret. */
function readerRole(target: KubeconfigTarget): [k8s.V1Role, k8s.V1RoleBinding] | [] {
  const { location, grant } = target;
  if (!location.reader) return [];
  const metadata = { name: location.name, namespace: location.namespace, labels: { [readerLabel]: grant.uid, 'app.kubernetes.io/managed-by': 'kubegate' } };
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [location.name], verbs: ['get'] }] },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: location.name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: location.reader.kind, name: location.reader.name }],
    },
  ];
}

/**
 * Deletes this grant's kubeconfig Secrets in the location's namespace — found by the grant's uid label, so
 * one left under an earlier spec.kubeconfigSecret goes too, and nobody else's — except `keep`.
 */
async function deleteOwnSecrets(clients: KubeClients, location: KubeconfigLocation, uid: string, keep?: string): Promise<void> {
  const secrets = await clients.objects.path({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: location.namespace } }, false);
  const { items } = await clients.raw.list<k8s.V1Secret>(secrets, { labelSelector: `${grantLabel}=${uid}` });
  // only what the list was asked for: the grant's own, in that namespace (whatever the answer held)
  const own = items.filter((s) => s.metadata?.labels?.[grantLabel] === uid && s.metadata?.namespace === location.namespace);
  for (const secret of own.filter((s) => s.metadata?.name !== keep)) {
    const preconditions = { uid: secret.metadata!.uid, resourceVersion: secret.metadata!.resourceVersion };
    await ignoreNotFound(clients.objects.delete(secret, { preconditions }));
  }
}

/** Deletes the grant's kubeconfig Secrets and its reader Role and RoleBinding — each only if this grant made it. */
export async function deleteKubeconfigSecret(clients: KubeClients, location: KubeconfigLocation, uid: string): Promise<void> {
  await deleteOwnSecrets(clients, location, uid);
  if (!location.reader) return;
  const metadata = { name: location.name, namespace: location.namespace };
  for (const kind of ['RoleBinding', 'Role']) {
    const reader = { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata };
    if (ownedBy(await readIfExists(clients, reader), uid, readerLabel)) await ignoreNotFound(clients.objects.delete(reader));
  }
}

async function ignoreNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
