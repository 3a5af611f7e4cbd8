/**
 * The upload jobs of a session's spool, each safe to run again (the uploader retries, and crash recovery
 * queues sealed segments a second time): a segment job finds no files once it has finished.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { callsKey, manifestKey, objectIndexKey, segmentKey, type SegmentManifest } from './format.js';
import { hasCallsTable, namesObject, type ObjectIndexEntry } from './object-index.js';
import type { IndexBuilder } from './session-index.js';
import { manifestFileName, objectsFileName, segmentFileName } from './spool.js';
import type { PutOptions, RecordingStore } from './store.js';
import type { UploadJob } from './uploader.js';

/**
 * The segment (streamed from the spool), its object index and calls table files (v4, v6), then its manifest, all under the
 * retention the manifest asks for; then the spool copies go.
 */
export function segmentUpload(store: RecordingStore, dir: string, prefix: string, index: number): UploadJob {
  const segmentFile = join(dir, segmentFileName(index));
  const manifestFile = join(dir, manifestFileName(index));
  const objectsFile = join(dir, objectsFileName(index));
  const keys = { segment: segmentKey(prefix, index), manifest: manifestKey(prefix, index) };
  let segmentStored = false;
  return {
    label: keys.segment,
    attempt: async () => {
      // the segment file goes first, the manifest last: a manifest alone means its segment is stored
      if (!existsSync(manifestFile)) {
        await rm(segmentFile, { force: true });
        await rm(objectsFile, { force: true });
        return;
      }
      const manifestBody = await readFile(manifestFile);
      const manifest = JSON.parse(manifestBody.toString('utf8')) as SegmentManifest;
      const retention = manifest.retention ? { mode: manifest.retention.mode, retainUntil: new Date(manifest.retention.retainUntil) } : undefined;
      if (!segmentStored && existsSync(segmentFile)) {
        await store.putFile(keys.segment, segmentFile, { retention, contentType: 'application/x-ndjson' });
      }
      segmentStored = true;
      if (existsSync(objectsFile)) await putObjectIndex(store, objectsFile, index, retention);
      await store.put(keys.manifest, manifestBody, { retention, contentType: 'application/json' });
      await rm(segmentFile, { force: true });
      await rm(objectsFile, { force: true });
      await rm(manifestFile, { force: true });
    },
  };
}

/**
 * One object index file per object and day the segment's entries name, and (v6) one calls table file per
 * day with every entry (a segment is bounded, so are its entries).
 */
async function putObjectIndex(store: RecordingStore, file: string, segment: number, retention: PutOptions['retention']): Promise<void> {
  const files = new Map<string, string[]>();
  const add = (key: string, line: string) => void (files.get(key)?.push(line) ?? files.set(key, [line]));
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as ObjectIndexEntry;
    if (namesObject(entry)) add(objectIndexKey(entry, segment), line);
    if (hasCallsTable(entry.v)) add(callsKey(entry, segment), line);
  }
  for (const [key, lines] of files) await store.put(key, Buffer.from(lines.join('\n') + '\n'), { ...(retention ? { retention } : {}), contentType: 'application/x-ndjson' });
}

/** The session's index object as it stands now (a cache for search: not retention-locked); only the newest queued one is written. */
export function indexUpload(store: RecordingStore, index: IndexBuilder): UploadJob {
  const body = Buffer.from(JSON.stringify(index.toJSON()) + '\n');
  const key = index.key();
  return { label: key, coalesce: 'index', attempt: () => store.put(key, body, { contentType: 'application/json' }) };
}

/** The last job of a finished session: its spool folder. */
export function spoolCleanup(dir: string): UploadJob {
  return { label: `spool ${dir}`, attempt: () => rm(dir, { recursive: true, force: true }) };
}
