/**
 * `s3://BUCKET/PREFIX`: recordings in Amazon S3 or an S3-compatible store such as MinIO.
 *
 * Configuration is the standard AWS environment, read when the store is opened: `AWS_REGION`,
 * `AWS_ENDPOINT_URL_S3` (an S3-compatible endpoint, addressed path-style), and credentials from the SDK's
 * default chain — access keys, a shared profile, or IRSA's web identity token (`AWS_ROLE_ARN` +
 * `AWS_WEB_IDENTITY_TOKEN_FILE`) in a cluster.
 *
 * A body in hand (and a file no larger than a part) goes up in one PUT of our own (s3-put.ts: the SDK's
 * command costs three times the CPU); other streams through `@aws-sdk/lib-storage`'s `Upload`, multipart,
 * at most `queueSize` parts of 5 MiB in memory at once whatever the object's size. Object-lock retention is
 * set on the upload itself (a bucket with object lock enabled refuses lock headers without an integrity
 * checksum: Content-MD5 on our PUT, the SDK's default CRC32 on its own). Every request has a connection and an idle
 * timeout, so a store that accepts connections but never answers counts as down instead of hanging.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectRetentionCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { S3ObjectPut } from './s3-put.js';
import type { PutOptions, RecordingStore, StoredObjectInfo } from './store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
  /** Overrides of the client configuration (tests); by default everything comes from the environment. */
  client?: S3ClientConfig;
  env?: NodeJS.ProcessEnv;
  /** Connection timeout (default 3 s) and idle timeout of a request (default 15 s). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** How long `probe` waits for the bucket to answer (default 3 s). */
  probeTimeoutMs?: number;
  /** Multipart part size (default and minimum 5 MiB) and parts in flight per upload (default 2). */
  partSize?: number;
  queueSize?: number;
  /** Keys per list request (default: the store's own, 1000 on S3). */
  listPageSize?: number;
}

export const defaultPartSize = 5 * 1024 * 1024;

/** The client settings the standard AWS environment gives (endpoint and region; credentials stay with the SDK's chain). */
export function s3ClientConfigFromEnv(env: NodeJS.ProcessEnv, timeouts: { connectTimeoutMs: number; idleTimeoutMs: number }): S3ClientConfig {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined);
  // an environment given explicitly (not this process's) carries its own keys; otherwise the SDK's chain finds them
  const keys = env !== process.env && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } : undefined;
  return {
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(region ? { region } : {}),
    ...(keys ? { credentials: keys } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: timeouts.connectTimeoutMs, socketTimeout: timeouts.idleTimeoutMs },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** A bucket without object lock refuses lock headers; recording goes on without them (verify reports the missing lock). */
function isLockUnsupported(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return (e?.name === 'InvalidRequest' || e?.name === 'InvalidBucketState') && /object lock/i.test(e?.message ?? '');
}

export class S3Store implements RecordingStore {
  readonly url: string;
  readonly client: S3Client;
  private readonly objectPut: S3ObjectPut;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly probeTimeoutMs: number;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number | undefined;
  private lockUnsupported = false;
  private retentionReadable = true;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.url = `s3://${options.bucket}/${options.prefix}`.replace(/\/$/, '');
    this.probeTimeoutMs = options.probeTimeoutMs ?? 3000;
    this.partSize = Math.max(defaultPartSize, options.partSize ?? defaultPartSize);
    this.queueSize = Math.max(1, Math.min(options.queueSize ?? 2, 4));
    this.listPageSize = options.listPageSize;
    const fromEnv = s3ClientConfigFromEnv(options.env ?? process.env, { connectTimeoutMs: options.connectTimeoutMs ?? 3000, idleTimeoutMs: options.idleTimeoutMs ?? 15_000 });
    this.client = new S3Client({ ...fromEnv, ...options.client });
    this.objectPut = new S3ObjectPut(this.client, this.bucket, options.idleTimeoutMs ?? 15_000);
  }

  private key(key: string): string {
    return this.prefix + key;
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const locked = options.retention !== undefined && !this.lockUnsupported;
    const contentType = options.contentType ?? 'application/octet-stream';
    try {
      if (Buffer.isBuffer(body)) {
        const lock: Record<string, string> = locked ? { 'x-amz-object-lock-mode': options.retention!.mode, 'x-amz-object-lock-retain-until-date': options.retention!.retainUntil.toISOString() } : {};
        await this.objectPut.put(this.key(key), body, { 'content-type': contentType, ...lock });
      } else {
        const lock = locked ? { ObjectLockMode: options.retention!.mode, ObjectLockRetainUntilDate: options.retention!.retainUntil } : {};
        const params = { Bucket: this.bucket, Key: this.key(key), ContentType: contentType, ...lock, Body: body };
        // loaded at the first object larger than a part: a gateway worker that records short sessions never needs it (~2 MiB)
        const { Upload } = await import('@aws-sdk/lib-storage');
        await new Upload({ client: this.client, partSize: this.partSize, queueSize: this.queueSize, leavePartsOnError: false, params }).done();
      }
    } catch (error) {
      if (locked && isLockUnsupported(error)) {
        this.lockUnsupported = true;
        // a stream was consumed by the failed attempt: only a buffer can be sent again here; the caller retries streams
        if (Buffer.isBuffer(body)) return this.put(key, body, options);
      }
      throw error;
    }
  }

  /** A file no larger than a part is read whole (as `Upload` would buffer that part) and sent in one PUT. */
  async putFile(key: string, file: string, options: PutOptions = {}): Promise<void> {
    const { size } = await stat(file);
    return this.put(key, size <= this.partSize ? await readFile(file) : createReadStream(file), options);
  }

  /** True once the bucket refused object-lock headers (it has no object lock configuration). */
  objectLockUnsupported(): boolean {
    return this.lockUnsupported;
  }

  async get(key: string): Promise<Readable> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return object.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new Error(`no object "${key}" in ${this.url}`);
      throw error;
    }
  }

  async head(key: string): Promise<StoredObjectInfo | null> {
    let head;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    const info: StoredObjectInfo = { key, size: head.ContentLength ?? 0, ...(head.VersionId ? { versionId: head.VersionId } : {}) };
    if (head.ObjectLockMode && head.ObjectLockRetainUntilDate) {
      info.retention = { mode: head.ObjectLockMode as 'GOVERNANCE' | 'COMPLIANCE', retainUntil: head.ObjectLockRetainUntilDate.toISOString() };
    } else if (this.retentionReadable) {
      try {
        const { Retention } = await this.client.send(new GetObjectRetentionCommand({ Bucket: this.bucket, Key: this.key(key), ...(head.VersionId ? { VersionId: head.VersionId } : {}) }));
        if (Retention?.Mode && Retention.RetainUntilDate) info.retention = { mode: Retention.Mode as 'GOVERNANCE' | 'COMPLIANCE', retainUntil: Retention.RetainUntilDate.toISOString() };
      } catch (error) {
        const name = (error as { name?: string }).name ?? '';
        // no retention on this version is an answer; a bucket without object lock answers the same for every key
        if (/ObjectLockConfigurationNotFound|InvalidRequest/.test(name)) this.retentionReadable = !/InvalidRequest/.test(name);
        else if (!/NoSuchObjectLockConfiguration/.test(name)) throw error;
      }
    }
    return info;
  }

  async *list(prefix: string): AsyncIterable<StoredObjectInfo> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix), ContinuationToken, ...(this.listPageSize ? { MaxKeys: this.listPageSize } : {}) }));
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async probe(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(this.probeTimeoutMs) });
    } catch (error) {
      const e = error as Error;
      if (e.name === 'AbortError' || e.name === 'TimeoutError') throw new Error(`no answer within ${this.probeTimeoutMs} ms`);
      if (isNotFound(error)) throw new Error(`bucket "${this.bucket}" does not exist`);
      throw error;
    }
  }

  close(): void {
    this.objectPut.close();
    this.client.destroy();
  }
}
