/**
 * A recorded session as the API calls it made: each request paired with its decision, response and any
 * stream it opened, and several sessions' calls merged in recorded time order.
 */
import type { SessionEvent } from '../reader.js';
import type { RecordedAttributes } from '../api-call.js';
import type { BodyEncoding } from '../../recording/format.js';

export interface RecordedBody {
  text: string;
  encoding?: BodyEncoding;
  contentType?: string;
  truncated: boolean;
}

export interface RecordedCall {
  sessionId: string;
  /** The request event's `seq` in its writer's chain. */
  seq: number;
  writer?: string;
  time: string;
  requestId: string;
  method: string;
  /** Path and query, as recorded. */
  path: string;
  attributes: RecordedAttributes;
  request?: RecordedBody;
  decision?: { action: string; rule?: string };
  response?: RecordedBody & { status: number };
  /** exec/attach/port-forward: the command that ran (exec, attach), when a stream opened. */
  stream?: { protocol: string; command?: string[] };
}

const bodyOf = (event: { body?: string; bodyEncoding?: BodyEncoding; contentType?: string; bodyTruncated?: boolean }): RecordedBody | undefined =>
  event.body === undefined ? undefined : { text: event.body, ...(event.bodyEncoding ? { encoding: event.bodyEncoding } : {}), ...(event.contentType ? { contentType: event.contentType } : {}), truncated: event.bodyTruncated ?? false };

/** The calls of one session's events (as `sessionEvents` yields them), in the order their requests were recorded. */
export async function sessionCalls(sessionId: string, events: AsyncIterable<SessionEvent>): Promise<RecordedCall[]> {
  const calls: RecordedCall[] = [];
  const open = new Map<string, RecordedCall>();
  for await (const event of events) {
    if (!('requestId' in event)) continue;
    const key = `${event.writer ?? ''}\0${event.requestId}`;
    if (event.type === 'request') {
      const call: RecordedCall = {
        sessionId, seq: event.seq, time: event.time, requestId: event.requestId, method: event.method, path: event.path,
        attributes: event.attributes as RecordedAttributes,
        ...(event.writer !== undefined ? { writer: event.writer } : {}),
      };
      const request = bodyOf(event) ?? (event.contentType ? { text: '', contentType: event.contentType, truncated: false } : undefined);
      if (request) call.request = request;
      calls.push(call);
      open.set(key, call);
      continue;
    }
    const call = open.get(key);
    if (!call) continue;
    if (event.type === 'decision') call.decision = { action: event.action, ...(event.rule ? { rule: event.rule } : {}) };
    else if (event.type === 'response') call.response = { ...(bodyOf(event) ?? { text: '', truncated: false }), status: event.status };
    else if (event.type === 'stream-open') call.stream = { protocol: event.protocol, ...(event.command ? { command: event.command } : {}) };
  }
  return calls;
}

/** Whether call `a` was recorded before `b`: by time, then session order (`order`), then `seq`. */
function before(a: RecordedCall, b: RecordedCall, order: Map<string, number>): boolean {
  if (a.time !== b.time) return a.time < b.time;
  const sessions = order.get(a.sessionId)! - order.get(b.sessionId)!;
  return sessions !== 0 ? sessions < 0 : a.seq < b.seq;
}

/** Several sessions' calls in one recorded time order, each session's own order kept. */
export function mergeCalls(sessions: RecordedCall[][]): RecordedCall[] {
  const order = new Map(sessions.map((calls, i) => [calls[0]?.sessionId ?? '', i] as const));
  const heads = sessions.map(() => 0);
  const merged: RecordedCall[] = [];
  for (;;) {
    let next = -1;
    for (let i = 0; i < sessions.length; i++) {
      const head = sessions[i]![heads[i]!];
      if (head && (next < 0 || before(head, sessions[next]![heads[next]!]!, order))) next = i;
    }
    if (next < 0) return merged;
    merged.push(sessions[next]![heads[next]!++]!);
  }
}

export type CallKind = 'mutation' | 'read' | 'stream' | 'other';

const mutatingVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const streamSubresources = new Set(['exec', 'attach', 'portforward']);
/** Their "create" asks a question (can I…? who am I? is this token valid?) and stores nothing. */
const reviewGroups = new Set(['authorization.k8s.io', 'authentication.k8s.io']);

export function callKind(call: RecordedCall): CallKind {
  const { verb, subresource, isResourceRequest } = call.attributes;
  if (call.stream || (subresource && streamSubresources.has(subresource))) return 'stream';
  if (isResourceRequest === false) return 'other';
  if (reviewGroups.has(call.attributes.apiGroup ?? '')) return 'read';
  if (mutatingVerbs.has(verb)) return 'mutation';
  return verb === 'get' || verb === 'list' || verb === 'watch' ? 'read' : 'other';
}

/** The request body's bytes, as the client sent them (base64 bodies decoded). */
export function requestBytes(call: RecordedCall): Buffer | undefined {
  if (!call.request || call.request.text === '') return undefined;
  return Buffer.from(call.request.text, call.request.encoding === 'base64' ? 'base64' : 'utf8');
}
