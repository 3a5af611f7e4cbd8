/**
 * The segment a session is appending to: its bookkeeping (bytes appended, written and fsynced; the
 * running hash; the lines waiting to be written; who waits for an fsync) and the encoding of one line.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { RecordEvent } from './format.js';

interface Waiter {
  offset: number;
  resolve(): void;
  reject(error: Error): void;
}

export interface OpenSegment {
  index: number;
  path: string;
  handle?: FileHandle;
  /** Bytes appended; written to the file; fsynced. */
  bytes: number;
  written: number;
  synced: number;
  events: number;
  firstSeq: number;
  lastSeq: number;
  openedAt: string;
  openedAtMs: number;
  hash: Hash;
  pending: Buffer[];
  pendingBytes: number;
  syncQueued: boolean;
  /** The fsync in flight (or a resolved promise): the next one and the seal wait for it. */
  syncing: Promise<void>;
  writeQueued: boolean;
  /** Writes the waiting lines now rather than when the batching delay ends (session-writer.ts `queueWrite`). */
  flushWrite?: () => void;
  waiters: Waiter[];
  /** What the last event in the segment was (a recovered segment ending in `session-end` is final). */
  lastType: string;
}

export function newSegment(index: number, path: string, firstSeq: number, openedAt: string): OpenSegment {
  return {
    index,
    path,
    bytes: 0,
    written: 0,
    synced: 0,
    events: 0,
    firstSeq,
    lastSeq: firstSeq - 1,
    openedAt,
    openedAtMs: Date.parse(openedAt),
    hash: createHash('sha256'),
    pending: [],
    pendingBytes: 0,
    syncQueued: false,
    syncing: Promise.resolve(),
    writeQueued: false,
    waiters: [],
    lastType: '',
  };
}

/**
 * One JSON line. A stream frame's base64 payload is most of a session's bytes: it is copied into the line
 * as Latin-1 (base64 is ASCII, needs no escaping) instead of going through JSON.stringify and a UTF-8
 * encoding, which made recording the larger part of an exec's CPU.
 */
export function eventLine(envelope: { v: number; seq: number; time: string }, event: RecordEvent): Buffer {
  if (event.type !== 'stream') return Buffer.from(JSON.stringify({ ...envelope, ...event }) + '\n');
  const { data, ...frame } = event;
  const head = Buffer.from(JSON.stringify({ ...envelope, ...frame }).slice(0, -1) + ',"data":"');
  const line = Buffer.allocUnsafe(head.length + data.length + 3);
  head.copy(line, 0);
  line.write(data, head.length, 'latin1');
  line.write('"}\n', head.length + data.length, 'latin1');
  return line;
}
