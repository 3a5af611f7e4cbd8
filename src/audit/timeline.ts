/**
 * `sessions show`: a session's events folded into a timeline a person reads — one line per API call
 * (verb, resource, namespace/name, decision and rule, status, duration, a body's content type when it is
 * not JSON, the size of a body recorded as base64 — protobuf, CBOR: not text, so not printed), streams opened and closed with their command, stdin lines, approvals, and gaps, loudly.
 * Built event by event: only calls still waiting for their response and partial stream lines are held.
 *
 * In a session of several writers (FORMAT.md) each writer's chain starts and ends on its own: the first
 * `session-start` starts the session and a later one while it is open is a writer joining; a
 * `session-end` ends the session only when it closes the last chain still open, else a writer leaving.
 */
import { describeApiCall, type RecordedAttributes } from './api-call.js';
import { StreamLines, type SessionEvent } from './reader.js';

type Client = { address?: string; userAgent?: string; command?: string };

/** A body recorded as base64 (v3): its size as recorded, its full size when it was cut at the cap, and (a response's) its type. */
export interface BinaryBody {
  bytes: number;
  totalBytes?: number;
  contentType?: string;
}

export type TimelineEntry =
  | { kind: 'session-start'; time: string; subject: string; grant: string; policy: string; client: Client }
  | { kind: 'writer-start'; time: string; writer: string; client: Client }
  | { kind: 'writer-end'; time: string; writer: string; reason: string }
  | { kind: 'api'; time: string; requestId: string; call: string; contentType?: string; requestBody?: BinaryBody; action?: string; rule?: string; message?: string; approval?: string; status?: number; durationMs?: number; responseBody?: BinaryBody }
  | { kind: 'decision'; time: string; requestId: string; action: string; rule?: string; message: string; approval?: string }
  | { kind: 'stream-open'; time: string; requestId: string; protocol: string; command?: string[] }
  | { kind: 'stream-line'; time: string; requestId: string; channel: string; line: string }
  | { kind: 'stream-close'; time: string; requestId: string; reason: string; bytes: Record<string, number> }
  | { kind: 'gap'; time: string; afterSeq: number; reason: string; writer?: string }
  | { kind: 'session-end'; time: string; reason: string };

type ApiEntry = Extract<TimelineEntry, { kind: 'api' }>;

export interface TimelineOptions {
  /** Show stdout and stderr lines too, not only stdin and the exit status. */
  output?: boolean;
}

export class Timeline {
  private readonly pending = new Map<string, ApiEntry>();
  private readonly streamBytes = new Map<string, Record<string, number>>();
  private readonly lines = new StreamLines();
  /** Chains started and not yet ended. */
  private openChains = 0;

  constructor(private readonly options: TimelineOptions = {}) {}

  /** The entries this event completes, in order. */
  push(event: SessionEvent): TimelineEntry[] {
    const time = event.time;
    switch (event.type) {
      case 'session-start':
        if (this.openChains++ > 0) return [{ kind: 'writer-start', time, writer: event.writer ?? '', client: event.client }];
        return [{ kind: 'session-start', time, subject: `${event.subject.kind}/${event.subject.namespace ? `${event.subject.namespace}/` : ''}${event.subject.name}`, grant: `${event.grant.namespace}/${event.grant.name}`, policy: `${event.policy.namespace}/${event.policy.name}@${event.policy.version}`, client: event.client }];
      case 'request':
        this.pending.set(event.requestId, { kind: 'api', time, requestId: event.requestId, call: describeApiCall(event.attributes as RecordedAttributes), ...(event.contentType ? { contentType: event.contentType } : {}), ...binaryBody('requestBody', event) });
        return [];
      case 'decision': {
        const entry = this.pending.get(event.requestId);
        // the decision and an approval that follows it belong on the call's line; a later one (a stdin block) stands alone
        if (entry && entry.action === undefined) {
          Object.assign(entry, { action: event.action, message: event.message }, event.rule ? { rule: event.rule } : {});
          return [];
        }
        if (entry && entry.action === 'RequireApproval' && event.action === 'Allow') {
          entry.approval = event.message;
          return [];
        }
        return [{ kind: 'decision', time, requestId: event.requestId, action: event.action, message: event.message, ...(event.rule ? { rule: event.rule } : {}), ...(event.approval ? { approval: event.approval } : {}) }];
      }
      case 'response': {
        const entry = this.pending.get(event.requestId);
        this.pending.delete(event.requestId);
        if (!entry) return [];
        return [{ ...entry, status: event.status, durationMs: event.durationMs, ...binaryBody('responseBody', event, event.contentType) }];
      }
      case 'stream-open': {
        const entry = this.pending.get(event.requestId);
        this.pending.delete(event.requestId);
        this.streamBytes.set(event.requestId, {});
        const open: TimelineEntry = { kind: 'stream-open', time, requestId: event.requestId, protocol: event.protocol, ...(event.command ? { command: event.command } : {}) };
        return entry ? [{ ...entry, status: 101 }, open] : [open];
      }
      case 'stream': {
        const bytes = this.streamBytes.get(event.requestId) ?? {};
        const name = event.port !== undefined ? `port ${event.port} ${event.direction === 'client-to-server' ? 'in' : 'out'}` : event.channel;
        bytes[name] = (bytes[name] ?? 0) + Buffer.byteLength(event.data, 'base64');
        this.streamBytes.set(event.requestId, bytes);
        // stdin (what was typed) and error (the exec's exit status) always; output on request
        const shown = event.channel === 'stdin' || event.channel === 'error' || (this.options.output && (event.channel === 'stdout' || event.channel === 'stderr'));
        if (!shown) return [];
        return this.lines.push(event.requestId, event.channel, event.data).map((line) => ({ kind: 'stream-line', time, requestId: event.requestId, channel: event.channel, line }));
      }
      case 'stream-close': {
        const rest = this.lines.end(event.requestId).map(({ channel, line }): TimelineEntry => ({ kind: 'stream-line', time, requestId: event.requestId, channel, line }));
        const bytes = this.streamBytes.get(event.requestId) ?? {};
        this.streamBytes.delete(event.requestId);
        return [...rest, { kind: 'stream-close', time, requestId: event.requestId, reason: event.reason, bytes }];
      }
      case 'gap':
        return [{ kind: 'gap', time, afterSeq: event.afterSeq, reason: event.reason, ...(event.writer ? { writer: event.writer } : {}) }];
      case 'session-end':
        if (--this.openChains > 0) return [{ kind: 'writer-end', time, writer: event.writer ?? '', reason: event.reason }];
        return [...this.end(time), { kind: 'session-end', time, reason: event.reason }];
    }
  }

  /** What is still open when the events stop: calls without a response, unterminated lines. */
  end(time?: string): TimelineEntry[] {
    const calls = [...this.pending.values()];
    this.pending.clear();
    const lines = this.lines.endAll().map(({ requestId, channel, line }): TimelineEntry => ({ kind: 'stream-line', time: time ?? '', requestId, channel, line }));
    return [...calls, ...lines];
  }
}

/** `{ [field]: BinaryBody }` for an event whose body is base64, else nothing. */
function binaryBody<F extends string>(field: F, event: { body?: string; bodyEncoding?: string; bodyBytes?: number; bodyTruncated?: boolean }, contentType?: string): { [K in F]?: BinaryBody } {
  if (event.bodyEncoding !== 'base64' || event.body === undefined) return {};
  const body: BinaryBody = { bytes: Buffer.byteLength(event.body, 'base64'), ...(event.bodyTruncated && event.bodyBytes !== undefined ? { totalBytes: event.bodyBytes } : {}), ...(contentType ? { contentType } : {}) };
  return { [field]: body } as { [K in F]?: BinaryBody };
}

function binaryBodyText(which: string, body: BinaryBody | undefined): string {
  if (!body) return '';
  return `  [${which} body: ${body.bytes} bytes${body.totalBytes !== undefined ? ` of ${body.totalBytes}` : ''}, base64${body.contentType ? `, ${body.contentType}` : ''}]`;
}

const clock = (time: string) => time.slice(11, 23) || '            ';

function byteCounts(bytes: Record<string, number>): string {
  const parts = Object.entries(bytes).map(([name, count]) => `${name} ${count} B`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function clientText(client: Client): string {
  return [client.address, client.userAgent, client.command && `"${client.command}"`].filter(Boolean).join(' ');
}

/** One line of `sessions show`. */
export function renderEntry(entry: TimelineEntry): string {
  switch (entry.kind) {
    case 'session-start': {
      const client = clientText(entry.client);
      return `${entry.time}  session start  subject ${entry.subject}  grant ${entry.grant}  policy ${entry.policy}${client ? `  client ${client}` : ''}`;
    }
    case 'writer-start':
      return `${clock(entry.time)}  + writer ${entry.writer} joins${clientText(entry.client) ? `  client ${clientText(entry.client)}` : ''}`;
    case 'writer-end':
      return `${clock(entry.time)}  - writer ${entry.writer} ends: ${entry.reason}`;
    case 'api': {
      const decision = entry.action ? `${entry.action}${entry.rule ? ` (${entry.rule})` : ''}` : 'no decision recorded';
      const status = entry.status === undefined ? 'no response recorded' : `${entry.status}${entry.durationMs !== undefined ? ` ${Math.round(entry.durationMs)}ms` : ''}`;
      const approval = entry.approval ? `  ✓ ${entry.approval}` : '';
      // JSON is what kubectl sends by default; another body type (a patch type, YAML, protobuf) says how the change was made
      const body = entry.contentType && !/^application\/json\s*(;|$)/i.test(entry.contentType) ? `  [${entry.contentType}]` : '';
      const binary = `${binaryBodyText('request', entry.requestBody)}${binaryBodyText('response', entry.responseBody)}`;
      return `${clock(entry.time)}  ${entry.call.padEnd(40)} ${decision.padEnd(24)} ${status}${body}${binary}${approval}`;
    }
    case 'decision':
      return `${clock(entry.time)}    ${entry.action}${entry.rule ? ` (${entry.rule})` : ''}: ${entry.message}`;
    case 'stream-open':
      return `${clock(entry.time)}  ▶ stream open ${entry.command ? `[${entry.command.join(' ')}] ` : ''}(${entry.protocol})`;
    case 'stream-line':
      return `${clock(entry.time)}    ${entry.channel}> ${entry.line}`;
    case 'stream-close':
      return `${clock(entry.time)}  ■ stream closed: ${entry.reason}${byteCounts(entry.bytes)}`;
    case 'gap':
      return `${clock(entry.time)}  !!!!!!!! GAP: events after seq ${entry.afterSeq}${entry.writer ? ` of writer ${entry.writer}` : ''} were lost — ${entry.reason} !!!!!!!!`;
    case 'session-end':
      return `${clock(entry.time)}  session end: ${entry.reason}`;
  }
}
