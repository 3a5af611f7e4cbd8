/**
 * The JIT token signing keys, kept in one Secret of the operator's namespace (`keys.json`: every key
 * still needed). A new key is added when the newest is older than `rotateAfterMs`; a key is dropped once
 * its successor is older than the longest token lifetime, so rotation never breaks a live token.
 */
import type * as k8s from '@kubernetes/client-node';
import { newSigningKey, type SigningKey } from '../token/jit-token.js';
import { apply, readIfExists, type KubeClients } from '../kube/client.js';

const signingSecretName = 'kubegate-token-signing';
const week = 7 * 24 * 3600 * 1000;

export interface SigningKeyOptions {
  namespace: string;
  rotateAfterMs?: number;
  /** The longest a token can live (the CRD bounds grant duration to 168 h). */
  maxTokenLifetimeMs?: number;
  now?: () => Date;
}

/** Which keys to keep, and whether a new one is due, at `now`. */
export function planRotation(keys: SigningKey[], now: Date, rotateAfterMs: number, maxTokenLifetimeMs: number): { keep: SigningKey[]; rotate: boolean } {
  const byAge = [...keys].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const keep = byAge.filter((key, index) => {
    if (index === 0) return true;
    const successor = byAge[index - 1]!;
    return now.getTime() - Date.parse(successor.createdAt) < maxTokenLifetimeMs + 60_000;
  });
  const newestAge = byAge[0] ? now.getTime() - Date.parse(byAge[0].createdAt) : Infinity;
  return { keep, rotate: newestAge >= rotateAfterMs };
}

/** Reads the key set, rotating it first when due; creates the Secret on first use. */
export async function ensureSigningKeys(clients: KubeClients, options: SigningKeyOptions): Promise<SigningKey[]> {
  const now = options.now?.() ?? new Date();
  const secret = await readIfExists<k8s.V1Secret>(clients, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: signingSecretName, namespace: options.namespace },
  });
  const stored = secret?.data?.['keys.json'];
  const keys: SigningKey[] = stored ? JSON.parse(Buffer.from(stored, 'base64').toString('utf8')) : [];
  const plan = planRotation(keys, now, options.rotateAfterMs ?? 30 * 24 * 3600 * 1000, options.maxTokenLifetimeMs ?? week);
  if (!plan.rotate && plan.keep.length === keys.length) return keys;
  const next = plan.rotate ? [await newSigningKey(now), ...plan.keep] : plan.keep;
  await apply(clients, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: signingSecretName, namespace: options.namespace, labels: { 'app.kubernetes.io/part-of': 'kubegate' } },
    type: 'Opaque',
    data: { 'keys.json': Buffer.from(JSON.stringify(next)).toString('base64') },
  } as k8s.V1Secret);
  return next;
}
