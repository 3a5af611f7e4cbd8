/**
 * Evidence that holds against the store's own administrator (v5, FORMAT.md "Signatures and checkpoints"):
 * the recorder signs each manifest of a v5 chain with the gateway's key, publishes the key's public half
 * in the store (`keys/<key-id>.json`) before the first manifest it signed, and writes signed checkpoints
 * of each chain's tip to the checkpoint log under COMPLIANCE object lock — every `checkpointIntervalMs`
 * while the tip moved, and at once when the chain ends. So truncating a session, dropping its last
 * segment or recomputing its chain, even by someone who can rewrite every object the lock lets them,
 * is named by `verify`.
 *
 * Signing runs once per sealed segment and per checkpoint, on the writer's file chain or in an upload
 * job: never per event. Every upload goes through the session's own upload queue, behind the segments
 * it names, so a checkpoint never reaches the store before the manifest it vouches for.
 */
import { checkpointKey, publishedKeyKey, type ChainMetadata, type Checkpoint, type SegmentManifest } from './format.js';
import { signedPayload, type Signer } from '../pki/signing.js';
import type { ChainTip, RecorderLogger } from './spool.js';
import type { PutOptions, RecordingStore } from './store.js';
import type { UploadJob } from './uploader.js';

export const evidenceDefaults = {
  /** How often moved chain tips are checkpointed. */
  checkpointIntervalMs: 60_000,
  /** The COMPLIANCE lock of checkpoints when the policy asks for no retention. */
  retentionDays: 30,
  /** A key's lock outlasts the checkpoints' by its own life (rotation every 30 days, and a margin). */
  keyExtraDays: 60,
} as const;

export interface EvidenceOptions {
  signer: Signer;
  checkpointIntervalMs?: number;
}

interface EvidenceHost {
  store: RecordingStore;
  logger: RecorderLogger;
  now(): number;
  /** The policy's retention in days, if it sets one. */
  retentionDays(): number | undefined;
  enqueue(sessionId: string, job: UploadJob): void;
}

interface MovedTip {
  metadata: ChainMetadata;
  lastIndex: number;
  lastManifestSha256: string;
  final: boolean;
}

export class Evidence {
  private readonly published = new Set<string>();
  private readonly moved = new Map<string, MovedTip>();

  constructor(
    private readonly signer: Signer,
    private readonly host: EvidenceHost,
  ) {}

  /** The manifest, signed when its chain is v5 (an older chain is finished in its own version, unsigned). */
  async signManifest(sessionId: string, manifest: SegmentManifest): Promise<SegmentManifest> {
    if (manifest.v < 5) return manifest;
    try {
      const signature = await this.signer.sign(signedPayload('segment-manifest', manifest));
      this.publish(sessionId, signature.keyId);
      return { ...manifest, signature };
    } catch (error) {
      // recording goes on; verify names the unsigned manifest in a signed chain
      this.host.logger.error({ session: sessionId, err: error }, 'a segment manifest could not be signed');
      return manifest;
    }
  }

  /** A writer's tip moved (a segment sealed): checkpointed at the next tick, or now when the chain ended. */
  tipMoved(metadata: ChainMetadata, tip: ChainTip, final: boolean, version: number): void {
    if (version < 5 || metadata.writer === undefined || tip.previousManifestSha256 === null) return;
    // by chain: one process may hold two chains of a session (one opened again after it idled, store-recorder.ts)
    const chain = `${metadata.sessionId}/${metadata.writer}`;
    this.moved.set(chain, { metadata, lastIndex: tip.nextIndex - 1, lastManifestSha256: tip.previousManifestSha256, final });
    if (final) this.checkpoint(chain);
  }

  /** Checkpoints every tip that moved since the last tick. */
  tick(): void {
    for (const chain of [...this.moved.keys()]) this.checkpoint(chain);
  }

  private checkpoint(chain: string): void {
    const tip = this.moved.get(chain)!;
    this.moved.delete(chain);
    const { sessionId } = tip.metadata;
    const now = new Date(this.host.now());
    const unsigned: Omit<Checkpoint, 'signature'> = {
      v: 5,
      sessionId,
      writer: tip.metadata.writer!,
      startedAt: tip.metadata.startedAt,
      lastIndex: tip.lastIndex,
      lastManifestSha256: tip.lastManifestSha256,
      final: tip.final,
      time: now.toISOString(),
    };
    const key = checkpointKey(unsigned);
    const lock = this.lock(now, 0);
    let body: Buffer | undefined;
    this.host.enqueue(sessionId, {
      label: key,
      coalesce: 'checkpoint',
      attempt: async () => {
        if (!body) {
          const signature = await this.signer.sign(signedPayload('checkpoint', unsigned));
          this.publish(sessionId, signature.keyId);
          body = Buffer.from(JSON.stringify({ ...unsigned, signature } satisfies Checkpoint) + '\n');
        }
        await this.host.store.put(key, body, { retention: lock, contentType: 'application/json' });
      },
    });
  }

  /** Queues the public key's upload on the session's queue, ahead of what it signed; once per key and recorder. */
  private publish(sessionId: string, keyId: string): void {
    if (this.published.has(keyId)) return;
    this.published.add(keyId);
    const key = publishedKeyKey(keyId);
    this.host.enqueue(sessionId, {
      label: key,
      attempt: async () => {
        if (await this.host.store.head(key)) return; // published already (by this gateway's last run, or another replica)
        const published = await this.signer.publicKey(keyId);
        await this.host.store.put(key, Buffer.from(JSON.stringify(published) + '\n'), { retention: this.lock(new Date(this.host.now()), evidenceDefaults.keyExtraDays), contentType: 'application/json' });
      },
    });
  }

  private lock(now: Date, extraDays: number): NonNullable<PutOptions['retention']> {
    const policyDays = this.host.retentionDays();
    const days = (policyDays !== undefined && policyDays > 0 ? policyDays : evidenceDefaults.retentionDays) + extraDays;
    return { mode: 'COMPLIANCE', retainUntil: new Date(now.getTime() + days * 86_400_000) };
  }
}
