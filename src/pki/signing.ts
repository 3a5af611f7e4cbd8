/**
 * Evidence signatures: a `Signer` signs bytes with a key the signing party holds and says which key; a
 * `KeyRing` of published public keys checks them. Ed25519 through node:crypto here (`keySetSigner`); a KMS
 * can implement `Signer` later (its key id, its public key). Used by the recording (segment manifests and
 * checkpoints, src/recording/) and by whatever else must hold against the store's own administrator.
 *
 * What is signed is always `signedPayload(kind, object)`: the kind names what the bytes are, so a
 * signature over one kind of object never passes for another signed with the same key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

export interface Signature {
  keyId: string;
  algorithm: 'Ed25519';
  /** Base64 of the signature bytes. */
  value: string;
}

/** A public key as published in the store (`keys/<key-id>.json`) and in the cluster. */
export interface PublishedKey {
  keyId: string;
  algorithm: 'Ed25519';
  /** SPKI PEM. */
  publicKeyPem: string;
  createdAt: string;
}

export interface Signer {
  sign(bytes: Buffer): Promise<Signature>;
  /** The public key of a key id this signer has signed with. */
  publicKey(keyId: string): Promise<PublishedKey>;
}

/** A private Ed25519 key as kept in a Secret; the newest of a set signs. */
export interface EvidenceKey extends PublishedKey {
  privateKeyPem: string;
}

export function newEvidenceKey(now = new Date()): EvidenceKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId: `r-${now.toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`,
    algorithm: 'Ed25519',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    createdAt: now.toISOString(),
  };
}

export function publishedKey(key: EvidenceKey): PublishedKey {
  return { keyId: key.keyId, algorithm: key.algorithm, publicKeyPem: key.publicKeyPem, createdAt: key.createdAt };
}

/** The bytes a signature covers: the kind, a line break, the object's JSON (without its `signature`). */
export function signedPayload(kind: string, object: object): Buffer {
  const { signature: _, ...rest } = object as { signature?: unknown };
  return Buffer.from(`kubegate/${kind}\n${JSON.stringify(rest)}`);
}

/**
 * Signs with the newest of the keys `keys()` gives (read again at each signature: the caller caches; a
 * rotated set takes effect at the next one). Each PEM is parsed once.
 */
export function keySetSigner(keys: () => Promise<EvidenceKey[]>): Signer {
  const parsed = new Map<string, KeyObject>();
  const known = new Map<string, PublishedKey>();
  return {
    async sign(bytes) {
      const key = (await keys()).reduce<EvidenceKey | undefined>((newest, candidate) => (!newest || candidate.createdAt > newest.createdAt ? candidate : newest), undefined);
      if (!key) throw new Error('no evidence signing key');
      let privateKey = parsed.get(key.keyId);
      if (!privateKey) parsed.set(key.keyId, (privateKey = createPrivateKey(key.privateKeyPem)));
      known.set(key.keyId, publishedKey(key));
      return { keyId: key.keyId, algorithm: 'Ed25519', value: sign(null, bytes, privateKey).toString('base64') };
    },
    async publicKey(keyId) {
      const key = known.get(keyId) ?? (await keys()).find((candidate) => candidate.keyId === keyId);
      if (!key) throw new Error(`no evidence signing key ${keyId}`);
      return publishedKey(key as EvidenceKey);
    },
  };
}

export type SignatureCheck = 'valid' | 'invalid' | 'unknown-key';

/** The public keys a verifier trusts, by id. */
export class KeyRing {
  private readonly keys = new Map<string, KeyObject>();

  constructor(keys: Iterable<PublishedKey>) {
    for (const key of keys) {
      if (key.algorithm !== 'Ed25519') continue;
      try {
        this.keys.set(key.keyId, createPublicKey(key.publicKeyPem));
      } catch {
        // a key that does not parse verifies nothing: signatures by it are reported as by an unknown key
      }
    }
  }

  get size(): number {
    return this.keys.size;
  }

  check(bytes: Buffer, signature: Signature): SignatureCheck {
    const key = this.keys.get(signature.keyId);
    if (!key || signature.algorithm !== 'Ed25519') return 'unknown-key';
    try {
      return verify(null, bytes, key, Buffer.from(signature.value, 'base64')) ? 'valid' : 'invalid';
    } catch {
      return 'invalid';
    }
  }
}
