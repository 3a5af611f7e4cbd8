/**
 * One way from a store URL to a `RecordingStore`, for the gateway (which writes) and the auditor
 * commands (which read): `s3://BUCKET[/PREFIX]` or `file://DIR`. Anything else is refused with one
 * message that says what is accepted.
 */
import { resolve } from 'node:path';
import { FileStore } from './file-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';
import type { RecordingStore } from './store.js';

export class StoreUrlError extends Error {
  constructor(url: string, why: string) {
    super(`invalid recording store "${url}": ${why}; expected s3://BUCKET[/PREFIX] (S3 or MinIO, configured by the AWS_* environment) or file://DIR`);
    this.name = 'StoreUrlError';
  }
}

export interface ParsedStoreUrl {
  kind: 's3' | 'file';
  /** s3: the bucket; file: the absolute folder. */
  location: string;
  /** s3: the key prefix, '' or ending in '/'. */
  prefix: string;
}

const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseStoreUrl(url: string): ParsedStoreUrl {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(url.trim());
  if (!match) throw new StoreUrlError(url, 'no scheme');
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  if (scheme === 'file') {
    if (rest === '') throw new StoreUrlError(url, 'no folder');
    if (rest.includes('\0')) throw new StoreUrlError(url, 'a NUL byte in the path');
    return { kind: 'file', location: resolve(decodeURIComponent(rest)), prefix: '' };
  }
  if (scheme === 's3') {
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    let prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+/, '');
    if (!bucketName.test(bucket) || bucket.includes('..')) throw new StoreUrlError(url, `"${bucket}" is not a bucket name`);
    if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
    if (prefix.includes('//')) throw new StoreUrlError(url, 'an empty segment ("//") in the prefix');
    return { kind: 's3', location: bucket, prefix };
  }
  throw new StoreUrlError(url, `unknown scheme "${scheme}"`);
}

export function openStore(url: string, options: Omit<S3StoreOptions, 'bucket' | 'prefix'> = {}): RecordingStore {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'file') return new FileStore(parsed.location);
  return new S3Store({ ...options, bucket: parsed.location, prefix: parsed.prefix });
}
