/**
 * The keys this gateway signs its recordings with (src/recording/evidence.ts): its policy's Secret, which
 * the operator writes and rotates (src/operator/recording-keys.ts), read at start and again when the
 * last read is older than `refreshMs` (a rotated key signs from the next manifest on). A read that fails
 * later keeps the keys last read.
 */
import type * as k8s from '@kubernetes/client-node';
import type { RawKubeClient } from '../kube/raw-client.js';
import { recordingSigningSecretName } from '../api/names.js';
import { keysInSecret, type EvidenceKey } from '../pki/signing.js';
import type { Logger } from 'pino';

const fiveMinutes = 5 * 60_000;

async function readKeys(api: RawKubeClient, policy: { namespace: string; name: string }): Promise<EvidenceKey[]> {
  const secret = await api.requestJson<k8s.V1Secret>('GET', `/api/v1/namespaces/${policy.namespace}/secrets/${recordingSigningSecretName(policy.name)}`);
  const keys = keysInSecret<EvidenceKey>(secret.data);
  if (keys.length === 0) throw new Error(`the Secret ${policy.namespace}/${recordingSigningSecretName(policy.name)} holds no key`);
  return keys;
}

/**
 * The key source, or undefined when the Secret cannot be read at start (no operator made it, or the
 * gateway's Role predates it): recordings are then unsigned, as before format v5, and that is logged.
 */
export async function recordingKeysFromSecret(api: RawKubeClient, policy: { namespace: string; name: string }, logger: Logger, refreshMs = fiveMinutes, now = () => Date.now()): Promise<(() => Promise<EvidenceKey[]>) | undefined> {
  let keys: EvidenceKey[];
  try {
    keys = await readKeys(api, policy);
  } catch (error) {
    logger.warn({ err: error, secret: recordingSigningSecretName(policy.name) }, 'no recording signing key: manifests are unsigned and no checkpoints are written');
    return undefined;
  }
  let readAt = now();
  let reading: Promise<void> | undefined;
  return async () => {
    if (now() - readAt >= refreshMs) {
      reading ??= readKeys(api, policy)
        .then((fresh) => void (keys = fresh))
        .catch((error: unknown) => logger.warn({ err: error }, 'the recording signing keys could not be read again; signing with those last read'))
        .finally(() => {
          readAt = now();
          reading = undefined;
        });
      await reading;
    }
    return keys;
  };
}
