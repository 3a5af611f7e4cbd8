/**
 * Where recordings live: one interface, two stores — `s3://BUCKET/PREFIX` (S3 or MinIO) and the embedded
 * `file://DIR`. Keys are relative to the store's prefix and always use `/`.
 */
import type { Readable } from 'node:stream';

export interface StoredObjectInfo {
  key: string;
  size: number;
  /** The store's version id, where it versions objects. */
  versionId?: string;
  /** Object-lock retention in force on this version, if any. */
  retention?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; retainUntil: string };
}

export interface PutOptions {
  retention?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; retainUntil: Date };
  contentType?: string;
}

export interface RecordingStore {
  /** A URL naming this store, for messages. */
  readonly url: string;
  /** Streams `body` to `key` with bounded memory. */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<void>;
  /** Stores a local file that will not change (a sealed spool segment) as `key`. */
  putFile(key: string, file: string, options?: PutOptions): Promise<void>;
  get(key: string): Promise<Readable>;
  /** Null when the key does not exist. */
  head(key: string): Promise<StoredObjectInfo | null>;
  /** Keys under `prefix`, in lexical order. */
  list(prefix: string): AsyncIterable<StoredObjectInfo>;
  /** Cheap reachability check (FailClosed gateways refuse requests while it fails). */
  probe(): Promise<void>;
  close(): void;
}
