/**
 * Reading a recorded session from a store, streaming: the session's folders listed once and their objects
 * sorted into chains (one per writer, FORMAT.md), each chain's objects paired by segment index, and the
 * writers' events merged by time, one JSONL line at a time (a session is never held in memory whole).
 */
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import type { RecordingStore, StoredObjectInfo } from '../recording/store.js';
import { assertReadableVersion, writerPrefix, type RecordedEvent, type SessionIndex } from '../recording/format.js';
import { decodeKeySegment } from '../recording/key-segment.js';

/** The objects of one chain's folder, by segment index (from their key names, not from their content). */
export interface ChainObjects {
  segments: Map<number, StoredObjectInfo>;
  manifests: Map<number, StoredObjectInfo>;
  /** Objects in the folder that are neither a segment nor a manifest. */
  unexpected: StoredObjectInfo[];
  /** Every index seen in a segment or manifest key, ascending. */
  indexes: number[];
}

/** One writer's hash chain of a session. */
export interface StoredChain {
  /** The writer's id; undefined for a v1 chain (segments directly in the session folder). */
  writer?: string;
  /** The folder of its segments and manifests, ending in `/`. */
  prefix: string;
  /** Its index object; null when there is none. */
  index: SessionIndex | null;
  objects: ChainObjects;
}

/** A session as stored: its chains, in the order of their folders' keys (a v1 chain before the writer folders beside it). */
export interface StoredSession {
  sessionId: string;
  chains: StoredChain[];
  /** Objects in a session folder under a name no writer id encodes to. */
  unexpected: StoredObjectInfo[];
}

const objectName = /^segment-(\d{6,})\.(jsonl|manifest\.json)$/;

/**
 * Lists the folders of a session (its index objects' and any in `folders`) and sorts what they hold into
 * chains: a chain per writer folder, and a v1 chain for objects directly in a session folder. A chain with
 * an index but no objects is kept (its index says how many segments it should have).
 */
export async function storedSession(store: RecordingStore, sessionId: string, indexes: SessionIndex[], folders: string[] = []): Promise<StoredSession> {
  const chains = new Map<string, StoredChain>();
  const unexpected: StoredObjectInfo[] = [];
  const chain = (prefix: string, writer: string | undefined): StoredChain => {
    let found = chains.get(prefix);
    if (!found) chains.set(prefix, (found = { ...(writer === undefined ? {} : { writer }), prefix, index: null, objects: { segments: new Map(), manifests: new Map(), unexpected: [], indexes: [] } }));
    return found;
  };
  for (const index of indexes) chain(writerPrefix(index.prefix, index.writer), index.writer).index = index;
  for (const folder of new Set([...indexes.map((index) => index.prefix), ...folders])) {
    for await (const object of store.list(folder)) {
      const rest = object.key.slice(folder.length);
      const slash = rest.indexOf('/');
      const prefix = folder + rest.slice(0, slash + 1);
      // a writer folder is known by its index, or by a name that decodes (a shortened id only by its index)
      const writer = slash < 0 ? undefined : decodeKeySegment(rest.slice(0, slash));
      if (slash >= 0 && writer === undefined && !chains.has(prefix)) unexpected.push(object);
      else addObject(chain(prefix, writer).objects, object, rest.slice(slash + 1));
    }
  }
  for (const { objects } of chains.values()) objects.indexes = [...new Set([...objects.segments.keys(), ...objects.manifests.keys()])].sort((a, b) => a - b);
  return { sessionId, chains: [...chains.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)), unexpected };
}

function addObject(objects: ChainObjects, object: StoredObjectInfo, name: string): void {
  const match = objectName.exec(name);
  if (!match) objects.unexpected.push(object);
  else (match[2] === 'jsonl' ? objects.segments : objects.manifests).set(Number(match[1]), object);
}

/** The lines of an object, without their line ends, numbered from 1. */
export async function* objectLines(store: RecordingStore, key: string): AsyncGenerator<{ line: string; number: number }> {
  const lines = createInterface({ input: await store.get(key), crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) yield { line, number: ++number };
}

/** A line of a segment that is not an event. Reading stops there: `sessions verify` says more. */
export class UnreadableRecording extends Error {}

/** An event as read: in a session of several writers, `writer` says whose chain it came from. */
export type SessionEvent = RecordedEvent & { writer?: string };

/**
 * The session's events as stored (run `verify` to know they are untouched): each chain's in segment order,
 * the chains merged by time — at equal times every chain's `session-start` first and `session-end` last,
 * then in chain order — and each chain's own order always kept.
 */
export async function* sessionEvents(store: RecordingStore, session: StoredSession): AsyncGenerator<SessionEvent> {
  const named = session.chains.length > 1;
  yield* mergeByTime(session.chains.map((chain) => chainEvents(store, chain, named)));
}

async function* chainEvents(store: RecordingStore, chain: StoredChain, named: boolean): AsyncGenerator<SessionEvent> {
  const { segments } = chain.objects;
  for (const index of [...segments.keys()].sort((a, b) => a - b)) {
    const key = segments.get(index)!.key;
    for await (const { line, number } of objectLines(store, key)) {
      if (line === '') continue;
      let event: SessionEvent;
      try {
        event = JSON.parse(line) as SessionEvent;
      } catch {
        throw new UnreadableRecording(`${key} line ${number} is not JSON (run kubegate sessions verify)`);
      }
      assertReadableVersion(event.v, `${key} line ${number}`);
      if (named && chain.writer !== undefined) event.writer = chain.writer;
      yield event;
    }
  }
}

/** Where an event goes among others of the same time: every chain's start before, every end after. */
const tieRank = (event: SessionEvent) => (event.type === 'session-start' ? 0 : event.type === 'session-end' ? 2 : 1);

/** Whether `a` comes before `b`. Times compare as strings: the writer writes them in one fixed-width UTC form (`toISOString`). */
const before = (a: SessionEvent, b: SessionEvent) => a.time < b.time || (a.time === b.time && tieRank(a) < tieRank(b));

/** Merges time-ordered sources into one: at each step the earliest head (see `before`; the first source on a full tie). */
async function* mergeByTime(sources: AsyncGenerator<SessionEvent>[]): AsyncGenerator<SessionEvent> {
  try {
    const heads = await Promise.all(sources.map((source) => source.next()));
    for (;;) {
      let next = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]!;
        if (!head.done && (next < 0 || before(head.value, heads[next]!.value as SessionEvent))) next = i;
      }
      if (next < 0) return;
      yield heads[next]!.value as SessionEvent;
      heads[next] = await sources[next]!.next();
    }
  } finally {
    await Promise.all(sources.map((source) => source.return(undefined)));
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
