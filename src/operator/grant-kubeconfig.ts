/**
 * The JIT kubeconfig of an Active grant: the gateway's address and CA (pinned; never
 * insecure-skip-tls-verify) and a token that expires with the grant, in a Secret (key `kubeconfig`)
 * of the grant's namespace, owned by the grant. The token is re-signed only when the grant's expiry or
 * the gateway's CA changes.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { signJitToken, type SigningKey, type TokenSubject } from '../token/jit-token.js';
import { grantLabel, kubeconfigSecretKey } from '../api/index.js';
import { kubeconfigYaml } from '../kube/kubeconfig-yaml.js';
import { apply, createOrApply, readIfExists, type KubeClients } from '../kube/client.js';
import type { GrantIdentity } from './grant-bindings.js';

const expiresAnnotation = 'kubegate.dev/token-expires-at';
const caAnnotation = 'kubegate.dev/gateway-ca-sha256';

export interface KubeconfigTarget {
  secretName: string;
  grant: GrantIdentity;
  subject: TokenSubject;
  policy: { namespace: string; name: string };
  gateway: { server: string; caPem: string };
  expiresAt: Date;
}

/**
 * Writes the kubeconfig Secret unless the one in place already holds a token for this expiry and CA.
 * `knownOutdated` skips reading it: a grant activated just now has a new expiry, which no Secret in place
 * can hold (one left by an earlier grant of the same name is overwritten, as it must be).
 */
export async function ensureKubeconfigSecret(clients: KubeClients, keys: SigningKey[], target: KubeconfigTarget, options: { knownOutdated?: boolean } = {}): Promise<void> {
  const write = options.knownOutdated ? createOrApply : apply; // on activation the Secret is all but certainly new
  const caFingerprint = createHash('sha256').update(target.gateway.caPem).digest('hex').slice(0, 32);
  if (!options.knownOutdated) {
    const existing = await readIfExists<k8s.V1Secret>(clients, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: target.secretName, namespace: target.grant.namespace },
    });
    const annotations = existing?.metadata?.annotations ?? {};
    if (existing?.data?.[kubeconfigSecretKey] && annotations[expiresAnnotation] === target.expiresAt.toISOString() && annotations[caAnnotation] === caFingerprint) return;
  }

  const { token } = await signJitToken(keys, { grant: target.grant, subject: target.subject, policy: target.policy, expiresAt: target.expiresAt });
  const kubeconfig = kubeconfigYaml({
    server: target.gateway.server,
    caPem: target.gateway.caPem,
    user: { token },
    name: `kubegate-${target.grant.name}`,
  });
  await write(clients, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: target.secretName,
      namespace: target.grant.namespace,
      labels: { [grantLabel]: target.grant.uid, 'app.kubernetes.io/managed-by': 'kubegate' },
      annotations: { [expiresAnnotation]: target.expiresAt.toISOString(), [caAnnotation]: caFingerprint },
      ownerReferences: [
        { apiVersion: 'kubegate.dev/v1alpha1', kind: 'AccessGrant', name: target.grant.name, uid: target.grant.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    type: 'Opaque',
    data: { [kubeconfigSecretKey]: Buffer.from(kubeconfig).toString('base64') },
  } as k8s.V1Secret);
}
