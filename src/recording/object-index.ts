/**
 * The per-object index (format v4, FORMAT.md "Object index"): for every recorded API call that names an
 * object, one `ObjectIndexEntry` — who did what to it, under which grant, rule and approval, and how it
 * ended — filed under `objects/<group>/<resource>/<namespace>/<name>/YYYY/MM/DD/…` so that an object's
 * history is a prefix listing of the store.
 *
 * `CallTracker` assembles entries from a chain's events: a call starts with its `request` and ends with
 * its `response` (a plain call) or its `stream-close` (exec, attach, port-forward: the call lasts as long
 * as its streams). The writer holds only what is in flight and the entries of the segment being written;
 * readers (search, list) use the same tracker to see calls as they go.
 */
import { subjectName, type ChainMetadata, type RecordEvent } from './format.js';

/**
 * One call: a line of an object index file and (v6) a row of the calls table. `name` is '' for a call on
 * a resource that names no object (a list, a watch, a deletecollection): such a call is in the calls
 * table only. (A reader's tracker also returns calls on no resource — a non-resource path — with
 * `resource` empty; those are never filed.)
 */
export interface ObjectIndexEntry {
  v: number;
  /** When the request was recorded. */
  time: string;
  session: string;
  writer: string;
  /** The request's seq in the writer's chain, and its id (the request's events share it). */
  seq: number;
  requestId: string;
  verb: string;
  /** The API group, '' for the core group. */
  group: string;
  resource: string;
  subresource: string;
  /** '' for a cluster-scoped object (a namespace itself included). */
  namespace: string;
  /** The object's name: from the path, or for a create from the request body or the response body; '' for none (v6, the calls table only). */
  name: string;
  /** The session's subject (`namespace.name` for a ServiceAccount) and grant (`namespace/name`). */
  subject: string;
  grant: string;
  /** The ApprovalRequest that admitted the call. */
  approval?: string;
  rule?: string;
  /** What the policy decided (Allow, Deny, RequireApproval); Deny when a stream was cut by a rule later. */
  decision: string;
  /** The HTTP status answered; 101 for a stream that opened without one recorded; null when the call never ended. */
  status: number | null;
  /** exec/attach: the command; its exit code where the stream's status said it. */
  command?: string;
  exitCode?: number;
}

/** What every entry of one chain shares. */
export interface ChainFacts {
  v: number;
  session: string;
  writer: string;
  subject: string;
  grant: string;
}

/** A call in flight (persisted in the spool state across seals, so a crash does not lose it). */
export interface PendingCall {
  entry: ObjectIndexEntry;
  /** The call opened streams: it ends at `stream-close`. */
  streaming: boolean;
}

type TrackedEvent = RecordEvent & { seq: number; time: string };

/** In-flight calls kept at most; past it the oldest is filed as it stands (status null). */
export const maxPendingCalls = 1000;

interface Attributes {
  isResourceRequest?: boolean;
  verb?: string;
  apiGroup?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

/** `metadata.name` of a JSON object body; undefined for anything else (base64, YAML, cut, masked note). */
export function bodyObjectName(body: string | undefined, encoding: string | undefined): string | undefined {
  if (!body || encoding !== undefined || body[0] !== '{') return undefined;
  try {
    const name = (JSON.parse(body) as { metadata?: { name?: unknown } })?.metadata?.name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

const approvedBy = /approved once by ApprovalRequest (\S+)/;

/** The exit code a remote command's status (the `error` channel, base64 of a Status object) reports. */
function exitCodeOf(data: string): number | undefined {
  try {
    const status = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { status?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } };
    if (status.status === 'Success') return 0;
    const code = status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message;
    return code !== undefined && /^\d+$/.test(code) ? Number(code) : undefined;
  } catch {
    return undefined;
  }
}

export class CallTracker {
  private readonly pending = new Map<string, PendingCall>();
  /** Entries completed, with the segment they completed in, oldest first. */
  private completed: Array<{ segment: number; entry: ObjectIndexEntry }> = [];

  constructor(
    private readonly chain: ChainFacts,
    restored: PendingCall[] = [],
    /** false for a reader, which takes calls as `observe` returns them and files none. */
    private readonly filing = true,
  ) {
    for (const call of restored) this.pending.set(call.entry.requestId, call);
  }

  /**
   * Follows one event of the chain (`segment`: the segment it is in); returns the call it ends, if any —
   * every call, so a reader can judge each; only those naming an object are filed for the index.
   */
  observe(event: TrackedEvent, segment: number): ObjectIndexEntry | undefined {
    if (event.type === 'request') {
      this.start(event);
      return undefined;
    }
    if (!('requestId' in event)) return undefined;
    const call = this.pending.get(event.requestId);
    if (!call) return undefined;
    const { entry } = call;
    switch (event.type) {
      case 'decision': {
        const approval = event.approval ?? approvedBy.exec(event.message)?.[1];
        if (approval) entry.approval = approval;
        else if (entry.decision === '' || event.action === 'Deny') [entry.decision, entry.rule] = [event.action, event.rule ?? entry.rule];
        if (entry.rule === undefined) delete entry.rule;
        return undefined;
      }
      case 'stream-open':
        call.streaming = true;
        if (event.command?.length) entry.command = event.command.join(' ');
        return undefined;
      case 'stream':
        if (event.channel === 'error' && event.port === undefined) {
          const code = exitCodeOf(event.data);
          if (code !== undefined) entry.exitCode = code;
        }
        return undefined;
      case 'response':
        entry.status = event.status;
        // only a create's object is named by its response alone (generateName); no other body is parsed
        if (!entry.name && entry.verb === 'create' && entry.resource && event.status < 300) entry.name = bodyObjectName(event.body, event.bodyEncoding) ?? '';
        return call.streaming ? undefined : this.complete(entry, segment);
      case 'stream-close':
        entry.status ??= 101;
        return this.complete(entry, segment);
      default:
        return undefined;
    }
  }

  private start(event: TrackedEvent & { type: 'request' }): void {
    const attributes = event.attributes as Attributes;
    const resource = attributes.isResourceRequest === false ? '' : (attributes.resource ?? '');
    const verb = attributes.verb ?? event.method.toLowerCase();
    const name = attributes.name || (verb === 'create' && resource ? bodyObjectName(event.body, event.bodyEncoding) : undefined);
    const namespaced = resource !== 'namespaces' || Boolean(attributes.subresource);
    const { v, session, writer, subject, grant } = this.chain;
    const entry: ObjectIndexEntry = {
      v, time: event.time, session, writer, seq: event.seq, requestId: event.requestId, verb,
      group: attributes.apiGroup ?? '', resource, subresource: attributes.subresource ?? '',
      namespace: namespaced ? (attributes.namespace ?? '') : '', name: name ?? '', subject, grant, decision: '', status: null,
    };
    this.pending.set(event.requestId, { entry, streaming: false });
    if (this.pending.size > maxPendingCalls) {
      const [oldest] = this.pending.values();
      this.complete(oldest!.entry, -1);
    }
  }

  /**
   * Ends a call; one that is filed (a v4 or v5 chain: one that names an object; v6: any call on a resource,
   * for the calls table) is kept for its segment.
   */
  private complete(entry: ObjectIndexEntry, segment: number): ObjectIndexEntry {
    this.pending.delete(entry.requestId);
    if (this.filing && entry.resource && (entry.name || hasCallsTable(entry.v))) this.completed.push({ segment, entry });
    return entry;
  }

  /** Every call still in flight, ended as it stands (a reader at the end of a session). */
  endAll(): ObjectIndexEntry[] {
    return [...this.pending.values()].map((call) => this.complete(call.entry, -1));
  }

  /**
   * The entries of `segment`, taken out of memory (with any filed early for lack of room); for the final
   * segment, every call still in flight too, as it stands.
   */
  takeSegment(segment: number, final: boolean): ObjectIndexEntry[] {
    if (final) for (const call of [...this.pending.values()]) this.complete(call.entry, segment);
    const taken = this.completed.filter((done) => done.segment === segment || done.segment < 0).map((done) => done.entry);
    this.completed = this.completed.filter((done) => done.segment > segment);
    return taken;
  }

  /**
   * The calls in flight at the end of the segment whose last event is `lastSeq`, for the spool state
   * written when it seals. The seal runs after later events were followed: a call that began by then and
   * ended after it is still in flight there. Only calls on a resource (those that may be filed).
   */
  inFlightAt(lastSeq: number): PendingCall[] {
    const ended = this.completed.filter((done) => done.entry.seq <= lastSeq && done.segment >= 0).map((done) => ({ entry: done.entry, streaming: false }));
    const open = [...this.pending.values()].filter((call) => call.entry.seq <= lastSeq && call.entry.resource !== '');
    return [...ended, ...open];
  }
}

/** Whether an entry of this version is filed in the calls table too (`calls/…`, v6): every resource call is. */
export function hasCallsTable(v: number): boolean {
  return v >= 6;
}

/** Whether an entry goes to the per-object index: it names an object. */
export function namesObject(entry: ObjectIndexEntry): boolean {
  return entry.resource !== '' && entry.name !== '';
}

/** A v4 or later chain's call tracker (older chains are finished in their own version, without an object index). */
export function objectTracker(metadata: ChainMetadata, version: number, restored?: PendingCall[]): CallTracker | undefined {
  if (version < 4) return undefined;
  const grant = `${metadata.grant.namespace}/${metadata.grant.name}`;
  return new CallTracker({ v: version, session: metadata.sessionId, writer: metadata.writer ?? '', subject: subjectName(metadata.subject), grant }, restored);
}
