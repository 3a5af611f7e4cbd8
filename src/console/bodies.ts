/**
 * The request and response bodies of a session's API calls, as recorded (the gateway masked them before
 * it recorded them: nothing here unmasks or re-masks), for the session page's timeline. A text body is
 * carried up to `inlineBodyBytes`, and the whole answer up to `inlineBudgetBytes` of bodies: a session
 * of large lists stays a page a browser opens; a body cut here says so and is fetched whole from
 * `GET /api/sessions/ID/bodies/REQUEST/request|response`. A binary body (recorded as base64: protobuf,
 * CBOR) is named by its size and content type, as the timeline already does.
 */
import type { ServerResponse } from 'node:http';
import type { SessionEvent } from '../audit/reader.js';
import type { BinaryBody, TimelineEntry } from '../audit/timeline.js';

/** A text body of the timeline: its text (the first `inlineBodyBytes` of it when `cut`). */
export interface TextBody {
  text: string;
  /** Bytes recorded. */
  bytes: number;
  /** The body's size before the recorder cut it at the policy's `recording.maxBodyBytes`. */
  totalBytes?: number;
  contentType?: string;
  /** Only part of the recorded text (or none of it, past the answer's budget) is here. */
  cut?: true;
}

export const inlineBodyBytes = 64 * 1024;
export const inlineBudgetBytes = 8 * 1024 * 1024;

type ApiEntry = Extract<TimelineEntry, { kind: 'api' }>;
/** A timeline entry as the console answers it: an API call's text bodies carried too. */
export type ShownEntry = Exclude<TimelineEntry, ApiEntry> | (Omit<ApiEntry, 'requestBody' | 'responseBody'> & { requestBody?: BinaryBody | TextBody; responseBody?: BinaryBody | TextBody });

type BodyEvent = Extract<SessionEvent, { type: 'request' | 'response' }>;
export type BodySide = 'request' | 'response';

/** The first `max` bytes of a UTF-8 text, never cutting a character in two. */
function utf8Prefix(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return bytes.subarray(0, end).toString('utf8');
}

/** Adds the recorded text bodies to a session's `api` timeline entries, within the answer's budget. */
export class TimelineBodies {
  private readonly waiting = new Map<string, TextBody>();
  private budget = inlineBudgetBytes;

  /** Call with every event before the timeline sees it: the entry it completes then finds its bodies. */
  push(event: SessionEvent): void {
    if (event.type === 'request') {
      const body = this.textBody(event, event.contentType);
      if (body) this.waiting.set(event.requestId, body);
    } else if (event.type === 'response') {
      const body = this.textBody(event, event.contentType);
      if (body) this.waiting.set(`${event.requestId}\0response`, body);
    }
  }

  /** The entry with its text bodies, those of a call no longer waited for let go. */
  attach(entry: TimelineEntry): ShownEntry {
    if (entry.kind !== 'api') return entry;
    const requestBody = this.waiting.get(entry.requestId);
    const responseBody = this.waiting.get(`${entry.requestId}\0response`);
    this.waiting.delete(entry.requestId);
    this.waiting.delete(`${entry.requestId}\0response`);
    return { ...entry, ...(requestBody ? { requestBody } : {}), ...(responseBody ? { responseBody } : {}) };
  }

  private textBody(event: BodyEvent, contentType: string | undefined): TextBody | undefined {
    if (event.body === undefined || event.body === '' || event.bodyEncoding !== undefined) return undefined;
    const bytes = Buffer.byteLength(event.body, 'utf8');
    const text = utf8Prefix(event.body, Math.min(inlineBodyBytes, this.budget));
    this.budget -= Buffer.byteLength(text, 'utf8');
    return {
      text,
      bytes,
      ...(event.bodyTruncated && event.bodyBytes !== undefined ? { totalBytes: event.bodyBytes } : {}),
      ...(contentType ? { contentType } : {}),
      ...(text.length < event.body.length ? { cut: true as const } : {}),
    };
  }
}

/** The body of one side of one call, whole as recorded, if the events hold it. */
export async function findBody(events: AsyncIterable<SessionEvent>, requestId: string, side: BodySide): Promise<BodyEvent | undefined> {
  for await (const event of events) if (event.type === side && event.requestId === requestId && event.body !== undefined) return event;
  return undefined;
}

/**
 * A recorded body as a download: text as plain text (never as the type it claims, so a recorded HTML
 * page is not a page of the console), base64 as its bytes.
 */
export function sendBody(response: ServerResponse, event: BodyEvent, name: string): void {
  const filename = name.replace(/[^A-Za-z0-9._-]/g, '_');
  const binary = event.bodyEncoding === 'base64';
  const bytes = Buffer.from(event.body!, binary ? 'base64' : 'utf8');
  response.writeHead(200, {
    'Content-Type': binary ? 'application/octet-stream' : 'text/plain; charset=utf-8',
    'Content-Length': bytes.length,
    'Cache-Control': 'no-store',
    ...(binary ? { 'Content-Disposition': `attachment; filename="${filename}"` } : {}),
  });
  response.end(bytes);
}
