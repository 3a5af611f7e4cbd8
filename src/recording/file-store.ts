/**
 * `file://DIR`: the embedded recording store, one file per key under DIR. Every put is atomic and
 * durable — written to a temporary file beside the target, fsynced, renamed over it, and the folder
 * fsynced — so a reader sees either the old object or the whole new one, never a torn one. A local
 * disk has no object lock: a put that asks for retention leaves the file read-only (a hint, not a
 * lock) and `head` reports no retention.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PutOptions, RecordingStore, StoredObjectInfo } from './store.js';

const tempPrefix = '.kubegate-tmp-';

/** Fsyncs a folder, so that a rename or a new entry in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `body` to `file` atomically and durably: temp file, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(file: string, body: Readable | Buffer | string, mode = 0o644): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `${tempPrefix}${randomBytes(6).toString('hex')}`);
  try {
    if (Buffer.isBuffer(body) || typeof body === 'string') {
      const handle = await open(temp, 'w', mode);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      const out = createWriteStream(temp, { mode });
      await pipeline(body, out);
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

export class FileStore implements RecordingStore {
  readonly url: string;
  readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
    this.url = `file://${this.root}`;
  }

  private path(key: string): string {
    const parts = key.split('/');
    if (key === '' || key.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..' || part.startsWith(tempPrefix)) || key.includes('\0') || key.includes('\\')) {
      throw new Error(`invalid recording key "${key}"`);
    }
    return join(this.root, ...parts);
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const file = this.path(key);
    await writeFileAtomic(file, body, 0o644);
    if (options.retention) await chmod(file, 0o444);
  }

  /**
   * A sealed spool segment on the same file system is linked, not copied: recording writes each byte to
   * disk once. The link is made beside the target and renamed over it, as any put.
   */
  async putFile(key: string, file: string, options: PutOptions = {}): Promise<void> {
    const target = this.path(key);
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `${tempPrefix}${randomBytes(6).toString('hex')}`);
    try {
      await link(file, temp);
    } catch (error) {
      if (!['EXDEV', 'EPERM', 'EMLINK'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      return this.put(key, createReadStream(file), options); // another file system: copy
    }
    try {
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await fsyncDir(dir);
    if (options.retention) await chmod(target, 0o444);
  }

  async get(key: string): Promise<Readable> {
    const file = this.path(key);
    const stream = createReadStream(file);
    // surface "no such key" here rather than on the first read
    await new Promise<void>((resolvePromise, reject) => {
      stream.once('open', () => resolvePromise());
      stream.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(`no object "${key}" in ${this.url}`) : error));
    });
    return stream;
  }

  async head(key: string): Promise<StoredObjectInfo | null> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { key, size: info.size } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw error;
    }
  }

  /**
   * Keys under `prefix` in lexical (byte) order, streamed: a folder `a` sorts as `a/`, so walking the
   * sorted entries yields exactly the order S3 lists in, without collecting every key first.
   */
  async *list(prefix: string): AsyncIterable<StoredObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const base = prefix.slice(0, slash + 1);
    const start = base === '' ? this.root : join(this.root, ...base.split('/').filter(Boolean));
    yield* this.walk(start, base, prefix);
  }

  private async *walk(dir: string, keyPrefix: string, wanted: string): AsyncIterable<StoredObjectInfo> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw error;
    }
    const named = entries
      .filter((entry) => !entry.name.startsWith(tempPrefix) && (entry.isDirectory() || entry.isFile()))
      .map((entry) => ({ entry, sortKey: Buffer.from(entry.isDirectory() ? `${entry.name}/` : entry.name) }))
      .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
    for (const { entry } of named) {
      const key = keyPrefix + entry.name;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(wanted) || wanted.startsWith(folder)) yield* this.walk(join(dir, entry.name), folder, wanted);
      } else if (key.startsWith(wanted)) {
        const info = await stat(join(dir, entry.name)).catch(() => undefined);
        if (info) yield { key, size: info.size };
      }
    }
  }

  async probe(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const info = await stat(this.root);
    if (!info.isDirectory()) throw new Error(`${this.root} is not a folder`);
  }

  close(): void {}
}

