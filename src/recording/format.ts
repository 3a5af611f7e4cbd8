/**
 * The recording format, version 1: the contract between the gateway's writer and the auditors' reader.
 * JSON Schemas of the same shapes live in `schemas/recording/` (a test validates real recordings with ajv).
 *
 * Layout under the store's prefix (keys a person can browse in any S3 console):
 *
 *   sessions/YYYY/MM/DD/<subject>/<session-id>/segment-000000.jsonl          events, one JSON object a line
 *   sessions/YYYY/MM/DD/<subject>/<session-id>/segment-000000.manifest.json  its SegmentManifest
 *   …                                                                        segment-000001…, one per seal
 *   index/YYYY/MM/DD/<session-id>.json                                       SessionIndex (small; search reads these)
 *
 * The date is the session's start (UTC); `<subject>` is `subjectSegment(subject)`. Segments are sealed by
 * size or age and at session end; each manifest carries the hash of its segment and of the previous
 * manifest (which carries the previous segment's), so the manifests form a hash chain over the session.
 * Segment 0 starts with the `session-start` event; the last segment of a finished session has `final: true`
 * and ends with `session-end`.
 */

export const recordingFormatVersion = 1;

/** Which way a stream frame went. */
export type Direction = 'client-to-server' | 'server-to-client';

/** What a stream frame carries (remote command channels, port-forward data and errors, transport events). */
export type StreamChannel = 'stdin' | 'stdout' | 'stderr' | 'error' | 'resize' | 'close' | 'port-data' | 'port-error' | 'control';

export interface SessionMetadata {
  sessionId: string;
  tokenId: string;
  subject: { kind: string; name: string; namespace?: string };
  grant: { namespace: string; name: string; uid: string };
  policy: { namespace: string; name: string; version: string };
  client: { address?: string; userAgent?: string; command?: string };
  startedAt: string;
}

/** What the gateway records; the writer adds the envelope (`v`, `seq`, `time`). */
export type RecordEvent =
  | { type: 'request'; requestId: string; method: string; path: string; attributes: object; headers?: Record<string, string>; body?: string; bodyBytes?: number; bodyTruncated?: boolean }
  | { type: 'decision'; requestId: string; action: string; rule?: string; message: string; approval?: string }
  | { type: 'response'; requestId: string; status: number; body?: string; bodyBytes: number; bodyTruncated?: boolean; durationMs: number }
  | { type: 'stream-open'; requestId: string; protocol: string; command?: string[] }
  | { type: 'stream'; requestId: string; direction: Direction; channel: StreamChannel; data: string; port?: number }
  | { type: 'stream-close'; requestId: string; reason: string }
  /** Events that could not be kept (the unsynced tail of a crash, a spool that could not be written). */
  | { type: 'gap'; afterSeq: number; reason: string }
  | { type: 'session-end'; reason: string };

/** One line of a segment. `seq` counts from 0 over the whole session, without holes. */
export type RecordedEvent = { v: number; seq: number; time: string } & (RecordEvent | ({ type: 'session-start' } & SessionMetadata));

export interface SegmentManifest {
  v: number;
  sessionId: string;
  index: number;
  /** The object key of the segment this manifest describes. */
  key: string;
  firstSeq: number;
  lastSeq: number;
  events: number;
  bytes: number;
  /** Hex SHA-256 of the segment's bytes. */
  sha256: string;
  /** Hex SHA-256 of the previous segment's bytes and of the previous manifest's bytes; null for segment 0. */
  previousSegmentSha256: string | null;
  previousManifestSha256: string | null;
  openedAt: string;
  sealedAt: string;
  /** The session ended in this segment. */
  final: boolean;
  /** The gateway's object-lock request for this segment, when the policy asks for retention. */
  retention?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; retainUntil: string };
}

/** What search answers from without opening a session: written at start, rewritten as segments seal. */
export interface SessionIndex {
  v: number;
  sessionId: string;
  /** The key prefix of the session's folder, ending in `/`. */
  prefix: string;
  subject: SessionMetadata['subject'];
  grant: SessionMetadata['grant'];
  policy: SessionMetadata['policy'];
  client: SessionMetadata['client'];
  startedAt: string;
  endedAt: string | null;
  segments: number;
  events: number;
  namespaces: string[];
  verbs: string[];
  resources: string[];
  /** Every decision action seen (Allow, Deny, RequireApproval…). */
  decisions: string[];
  /** Exec/attach commands (joined by spaces) and the kubectl command lines the client sent. */
  commands: string[];
}

export function subjectSegment(subject: SessionMetadata['subject']): string {
  const name = subject.namespace ? `${subject.namespace}.${subject.name}` : subject.name;
  return encodeURIComponent(name).replace(/%/g, '_');
}

export function sessionPrefix(metadata: Pick<SessionMetadata, 'sessionId' | 'subject' | 'startedAt'>): string {
  return `sessions/${metadata.startedAt.slice(0, 10).replaceAll('-', '/')}/${subjectSegment(metadata.subject)}/${metadata.sessionId}/`;
}

export function segmentKey(prefix: string, index: number): string {
  return `${prefix}segment-${String(index).padStart(6, '0')}.jsonl`;
}

export function manifestKey(prefix: string, index: number): string {
  return `${prefix}segment-${String(index).padStart(6, '0')}.manifest.json`;
}

export function indexKey(metadata: Pick<SessionMetadata, 'sessionId' | 'startedAt'>): string {
  return `index/${metadata.startedAt.slice(0, 10).replaceAll('-', '/')}/${metadata.sessionId}.json`;
}
