/**
 * Reading a recorded session from a store, streaming: the session folder's objects paired by segment
 * index, and its events in order, one JSONL line at a time (a session is never held in memory whole).
 */
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import type { RecordingStore, StoredObjectInfo } from '../recording/store.js';
import type { RecordedEvent } from '../recording/format.js';

/** The objects of one session folder, by segment index (from their key names, not from their content). */
export interface SessionObjects {
  segments: Map<number, StoredObjectInfo>;
  manifests: Map<number, StoredObjectInfo>;
  /** Objects in the folder that are neither a segment nor a manifest. */
  unexpected: StoredObjectInfo[];
  /** Every index seen in a segment or manifest key, ascending. */
  indexes: number[];
}

const objectName = /^segment-(\d{6,})\.(jsonl|manifest\.json)$/;

export async function sessionObjects(store: RecordingStore, prefix: string): Promise<SessionObjects> {
  const found: SessionObjects = { segments: new Map(), manifests: new Map(), unexpected: [], indexes: [] };
  for await (const object of store.list(prefix)) {
    const match = objectName.exec(object.key.slice(prefix.length));
    if (!match) found.unexpected.push(object);
    else (match[2] === 'jsonl' ? found.segments : found.manifests).set(Number(match[1]), object);
  }
  found.indexes = [...new Set([...found.segments.keys(), ...found.manifests.keys()])].sort((a, b) => a - b);
  return found;
}

/** The lines of an object, without their line ends, numbered from 1. */
export async function* objectLines(store: RecordingStore, key: string): AsyncGenerator<{ line: string; number: number }> {
  const lines = createInterface({ input: await store.get(key), crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) yield { line, number: ++number };
}

/** A line of a segment that is not an event. Reading stops there: `sessions verify` says more. */
export class UnreadableRecording extends Error {}

/** The session's events in segment order (by key), as stored: run `verify` to know they are untouched. */
export async function* sessionEvents(store: RecordingStore, prefix: string): AsyncGenerator<RecordedEvent> {
  const { segments } = await sessionObjects(store, prefix);
  for (const index of [...segments.keys()].sort((a, b) => a - b)) {
    const key = segments.get(index)!.key;
    for await (const { line, number } of objectLines(store, key)) {
      if (line === '') continue;
      try {
        yield JSON.parse(line) as RecordedEvent;
      } catch {
        throw new UnreadableRecording(`${key} line ${number} is not JSON (run kubegate sessions verify)`);
      }
    }
  }
}

/** Longest partial line kept while waiting for its end; longer output is cut into lines of this size. */
const maxLineBytes = 64 * 1024;

/**
 * Splits the bytes of a session's terminal streams into text lines, per request and channel: a frame
 * can end mid-line or mid-character. Lines come out without their end; `\r` is dropped.
 */
export class StreamLines {
  private readonly open = new Map<string, { decoder: StringDecoder; partial: string }>();

  /** The complete lines that `data` (base64) finishes on this request's channel. */
  push(requestId: string, channel: string, data: string): string[] {
    const id = `${requestId}\0${channel}`;
    let state = this.open.get(id);
    if (!state) this.open.set(id, (state = { decoder: new StringDecoder('utf8'), partial: '' }));
    const text = state.partial + state.decoder.write(Buffer.from(data, 'base64'));
    const lines = text.split('\n');
    state.partial = lines.pop()!;
    while (state.partial.length > maxLineBytes) {
      lines.push(state.partial.slice(0, maxLineBytes));
      state.partial = state.partial.slice(maxLineBytes);
    }
    return lines.map(clean);
  }

  /** What remains unterminated on each channel of a request (its stream closed), by channel. */
  end(requestId: string): { channel: string; line: string }[] {
    const rest: { channel: string; line: string }[] = [];
    for (const [id, state] of this.open) {
      const [owner, channel] = id.split('\0') as [string, string];
      if (owner !== requestId) continue;
      const line = clean(state.partial + state.decoder.end());
      if (line !== '') rest.push({ channel, line });
      this.open.delete(id);
    }
    return rest;
  }

  /** Everything still unterminated, at the end of the session. */
  endAll(): { requestId: string; channel: string; line: string }[] {
    const owners = new Set([...this.open.keys()].map((id) => id.split('\0')[0]!));
    return [...owners].flatMap((requestId) => this.end(requestId).map((rest) => ({ requestId, ...rest })));
  }
}

function clean(line: string): string {
  return line.replaceAll('\r', '');
}
