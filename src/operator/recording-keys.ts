/**
 * A policy's recording signing keys: the private Ed25519 keys its gateway signs manifests and
 * checkpoints with, in a Secret only the gateway reads, rotated like the token keys (signing-keys.ts);
 * and every public key it ever held, in a ConfigMap beside it (`keys.json`, what `sessions verify
 * --keys` trusts). The gateway publishes the same public keys in the store (`keys/<key-id>.json`); the
 * cluster's copy is the one out of the store administrator's reach.
 *
 * An old private key is kept an hour after its successor (the gateway re-reads the Secret every few
 * minutes), its public key for good: recordings it signed are verified for as long as they are kept.
 */
import type * as k8s from '@kubernetes/client-node';
import { recordingKeysConfigMapName, recordingSigningSecretName, type SessionPolicy } from '../api/index.js';
import { newEvidenceKey, publishedKey, type EvidenceKey, type PublishedKey } from '../pki/signing.js';
import { readIfExists, type KubeClients } from '../kube/client.js';
import { ensureKeySecret } from './signing-keys.js';
import { meta } from './gateway-children.js';

export const recordingKeyRotation = { rotateAfterMs: 30 * 24 * 3600 * 1000, keepMs: 3600 * 1000 } as const;

/** The policy's signing keys (rotated when due), and the ConfigMap of its public keys, old ones kept. */
export async function ensureRecordingKeys(clients: KubeClients, policy: SessionPolicy, now = new Date()): Promise<{ keys: EvidenceKey[]; configMap: k8s.V1ConfigMap }> {
  const name = policy.metadata!.name!;
  const metadata = { ...meta(policy, recordingSigningSecretName(name)), name: recordingSigningSecretName(name), namespace: policy.metadata!.namespace! };
  const keys = await ensureKeySecret(clients, { metadata, newKey: newEvidenceKey, ...recordingKeyRotation, now });
  const existing = await readIfExists<k8s.V1ConfigMap>(clients, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: recordingKeysConfigMapName(name), namespace: policy.metadata!.namespace! } });
  return { keys, configMap: desiredRecordingKeysConfigMap(policy, existing, keys) };
}

/** Every public key the ConfigMap listed and every current key's, oldest first. */
export function desiredRecordingKeysConfigMap(policy: SessionPolicy, existing: k8s.V1ConfigMap | undefined, keys: EvidenceKey[]): k8s.V1ConfigMap {
  const listed = JSON.parse(existing?.data?.['keys.json'] ?? '[]') as PublishedKey[];
  const all = new Map<string, PublishedKey>(listed.map((key) => [key.keyId, key]));
  for (const key of keys) if (!all.has(key.keyId)) all.set(key.keyId, publishedKey(key));
  const sorted = [...all.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(policy, recordingKeysConfigMapName(policy.metadata!.name!)), data: { 'keys.json': JSON.stringify(sorted, null, 2) } };
}
