/**
 * Keys the operator keeps in a Secret (`keys.json`: every key still needed) and rotates: the JIT token
 * signing keys (one Secret in the operator's namespace) and each policy's recording signing keys
 * (recording-keys.ts). A new key is added when the newest is older than `rotateAfterMs`; a key is dropped
 * once its successor is older than `keepMs`, so rotation never breaks what the old key must still do
 * (for tokens: verify every live token).
 */
import type * as k8s from '@kubernetes/client-node';
import { newSigningKey, type SigningKey } from '../token/jit-token.js';
import { apply, readIfExists, type KubeClients } from '../kube/client.js';

const signingSecretName = 'kubegate-token-signing';
const week = 7 * 24 * 3600 * 1000;
const month = 30 * 24 * 3600 * 1000;

export interface SigningKeyOptions {
  namespace: string;
  rotateAfterMs?: number;
  /** The longest a token can live (the CRD bounds grant duration to 168 h). */
  maxTokenLifetimeMs?: number;
  now?: () => Date;
}

/** Which keys to keep, and whether a new one is due, at `now`. */
export function planRotation<K extends { createdAt: string }>(keys: K[], now: Date, rotateAfterMs: number, keepMs: number): { keep: K[]; rotate: boolean } {
  const byAge = [...keys].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const keep = byAge.filter((key, index) => {
    if (index === 0) return true;
    const successor = byAge[index - 1]!;
    return now.getTime() - Date.parse(successor.createdAt) < keepMs + 60_000;
  });
  const newestAge = byAge[0] ? now.getTime() - Date.parse(byAge[0].createdAt) : Infinity;
  return { keep, rotate: newestAge >= rotateAfterMs };
}

/** A Secret of rotated keys: where it is, how a key is made, and the rotation's two periods. */
export interface KeySecret<K extends { createdAt: string }> {
  metadata: k8s.V1ObjectMeta & { name: string; namespace: string };
  newKey(now: Date): Promise<K> | K;
  rotateAfterMs: number;
  keepMs: number;
  now: Date;
}

/** Reads the key set, rotating it first when due; creates the Secret on first use. */
export async function ensureKeySecret<K extends { createdAt: string }>(clients: KubeClients, secret: KeySecret<K>): Promise<K[]> {
  const existing = await readIfExists<k8s.V1Secret>(clients, { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret.metadata.name, namespace: secret.metadata.namespace } });
  const stored = existing?.data?.['keys.json'];
  const keys: K[] = stored ? JSON.parse(Buffer.from(stored, 'base64').toString('utf8')) : [];
  const plan = planRotation(keys, secret.now, secret.rotateAfterMs, secret.keepMs);
  if (!plan.rotate && plan.keep.length === keys.length) return keys;
  const next = plan.rotate ? [await secret.newKey(secret.now), ...plan.keep] : plan.keep;
  await apply(clients, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { ...secret.metadata, labels: { 'app.kubernetes.io/part-of': 'kubegate', ...secret.metadata.labels } },
    type: 'Opaque',
    data: { 'keys.json': Buffer.from(JSON.stringify(next)).toString('base64') },
  } as k8s.V1Secret);
  return next;
}

/** The token signing keys, rotating them first when due. */
export function ensureSigningKeys(clients: KubeClients, options: SigningKeyOptions): Promise<SigningKey[]> {
  return ensureKeySecret(clients, {
    metadata: { name: signingSecretName, namespace: options.namespace },
    newKey: newSigningKey,
    rotateAfterMs: options.rotateAfterMs ?? month,
    keepMs: options.maxTokenLifetimeMs ?? week,
    now: options.now?.() ?? new Date(),
  });
}
