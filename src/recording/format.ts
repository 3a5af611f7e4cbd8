/**
 * The recording format: the contract between the gateway's writer and every reader (src/audit/). Its
 * specification is FORMAT.md beside this file — the layout, the writers of a session, the key encoder,
 * and the versioning rule every change to this file follows; the JSON Schemas of the same shapes live in
 * `schemas/recording/` (a test validates real recordings with ajv).
 */
import { decodeKeySegment, encodeKeySegment } from './key-segment.js';
import type { Signature } from '../pki/signing.js';

/** The version this code writes; FORMAT.md lists what each version added. Readers accept 1 to this. */
export const recordingFormatVersion = 5;

/** An object written by a newer kubegate: a reader refuses it whole rather than misread it. */
export class UnsupportedRecordingVersion extends Error {
  constructor(
    readonly version: number,
    readonly what: string,
  ) {
    super(`${what} is in recording format v${version}; this kubegate reads v1 to v${recordingFormatVersion}: read it with a newer kubegate`);
    this.name = 'UnsupportedRecordingVersion';
  }
}

/** A version newer than this code reads; any other bad `v` is left to the schemas. */
export function isNewerVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > recordingFormatVersion;
}

export function assertReadableVersion(v: unknown, what: string): void {
  if (isNewerVersion(v)) throw new UnsupportedRecordingVersion(v, what);
}

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

/**
 * What one writer records a session under: the session and (v2) the writer's id. Without a writer it is
 * a v1 chain — only ever a session an older gateway left in the spool, finished where it started.
 */
export type ChainMetadata = SessionMetadata & { writer?: string };

/** How a request or response `body` holds its bytes (v3): absent, it is the text itself. */
export type BodyEncoding = 'base64';

/** What the gateway records; the writer adds the envelope (`v`, `seq`, `time`). */
export type RecordEvent =
  | { type: 'request'; requestId: string; method: string; path: string; attributes: object; contentType?: string; headers?: Record<string, string>; body?: string; bodyEncoding?: BodyEncoding; bodyBytes?: number; bodyTruncated?: boolean }
  | { type: 'decision'; requestId: string; action: string; rule?: string; message: string; approval?: string }
  | { type: 'response'; requestId: string; status: number; contentType?: string; body?: string; bodyEncoding?: BodyEncoding; bodyBytes: number; bodyTruncated?: boolean; durationMs: number }
  | { type: 'stream-open'; requestId: string; protocol: string; command?: string[] }
  | { type: 'stream'; requestId: string; direction: Direction; channel: StreamChannel; data: string; port?: number }
  | { type: 'stream-close'; requestId: string; reason: string }
  /** Events that could not be kept (the unsynced tail of a crash, a spool that could not be written). */
  | { type: 'gap'; afterSeq: number; reason: string }
  | { type: 'session-end'; reason: string };

/** One line of a segment. `seq` counts from 0 over the writer's chain, without holes. */
export type RecordedEvent = { v: number; seq: number; time: string } & (RecordEvent | ({ type: 'session-start' } & ChainMetadata));

export interface SegmentManifest {
  v: number;
  sessionId: string;
  /** The writer whose chain this segment extends (v2; absent in v1). */
  writer?: string;
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
  /** (v5) The gateway's signature over `signedPayload('segment-manifest', manifest)`; absent where it holds no key. */
  signature?: Signature;
}

/**
 * (v5) A signed record of one writer's chain tip, in the checkpoint log: written every checkpoint interval
 * while the tip moved, and when the chain ends. Verify holds the stored chain against the latest.
 */
export interface Checkpoint {
  v: number;
  sessionId: string;
  writer: string;
  /** The session's start (its folders' day). */
  startedAt: string;
  /** The newest sealed segment of the chain and the sha256 of its manifest's bytes. */
  lastIndex: number;
  lastManifestSha256: string;
  /** The chain ended in segment `lastIndex`. */
  final: boolean;
  time: string;
  /** Over `signedPayload('checkpoint', checkpoint)`. */
  signature: Signature;
}

/** What search answers from without opening a session: one per writer, written at start, rewritten as segments seal. */
export interface SessionIndex {
  v: number;
  sessionId: string;
  /** The writer whose chain this index describes (v2; absent in v1, where a session has one chain). */
  writer?: string;
  /** The key prefix of the session's folder, ending in `/`. */
  prefix: string;
  subject: SessionMetadata['subject'];
  grant: SessionMetadata['grant'];
  policy: SessionMetadata['policy'];
  client: SessionMetadata['client'];
  startedAt: string;
  endedAt: string | null;
  /** Segments and events of the writer's chain. */
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

// ---- keys (FORMAT.md, "Layout") -------------------------------------------------------------------

/**
 * The version a chain is written in, from its first event to its last (FORMAT.md, rule 5): the one its
 * spool state names (`stored`, since v3); for a chain an older gateway began, whose state names none, v1
 * without a writer id, else v2.
 */
export function chainVersion(metadata: Pick<ChainMetadata, 'writer'>, stored: number | undefined): number {
  return stored ?? (metadata.writer === undefined ? 1 : 2);
}

/** The fields that open a chain's manifests and index: version, session and writer. */
export function chainHeader(metadata: ChainMetadata, version: number): { v: number; sessionId: string; writer?: string } {
  return { v: version, sessionId: metadata.sessionId, ...(metadata.writer === undefined ? {} : { writer: metadata.writer }) };
}

/** The subject a session folder is named after: `namespace.name` for a ServiceAccount, else the name. */
export function subjectName(subject: SessionMetadata['subject']): string {
  return subject.namespace ? `${subject.namespace}.${subject.name}` : subject.name;
}

/** `YYYY/MM/DD` of the session's start (UTC), each part encoded. */
function dayPath(startedAt: string): string {
  return startedAt.slice(0, 10).split('-').map(encodeKeySegment).join('/');
}

/** How v1 named the folders (its subject escape left `_` as it was, so two names could share one). */
function v1SessionPrefix(metadata: Pick<SessionMetadata, 'sessionId' | 'subject' | 'startedAt'>): string {
  const subject = encodeURIComponent(subjectName(metadata.subject)).replace(/%/g, '_');
  return `sessions/${metadata.startedAt.slice(0, 10).replaceAll('-', '/')}/${subject}/${metadata.sessionId}/`;
}

/** The session's folder, ending in `/`: `sessions/YYYY/MM/DD/<subject>/<session-id>/`; each writer's chain is a folder in it. */
export function sessionFolder(metadata: Pick<SessionMetadata, 'sessionId' | 'subject' | 'startedAt'>): string {
  return `sessions/${dayPath(metadata.startedAt)}/${encodeKeySegment(subjectName(metadata.subject))}/${encodeKeySegment(metadata.sessionId)}/`;
}

/** The folder of the session a chain belongs to: as v1 named it for a v1 chain. */
export function sessionPrefix(metadata: Pick<ChainMetadata, 'sessionId' | 'subject' | 'startedAt' | 'writer'>): string {
  return metadata.writer === undefined ? v1SessionPrefix(metadata) : sessionFolder(metadata);
}

/** The folder of one writer's segments and manifests: `<session folder><writer-id>/`, the session folder itself in v1. */
export function writerPrefix(folder: string, writer: string | undefined): string {
  return writer === undefined ? folder : `${folder}${encodeKeySegment(writer)}/`;
}

export function chainPrefix(metadata: Pick<ChainMetadata, 'sessionId' | 'subject' | 'startedAt' | 'writer'>): string {
  return writerPrefix(sessionPrefix(metadata), metadata.writer);
}

export function segmentKey(prefix: string, index: number): string {
  return `${prefix}segment-${String(index).padStart(6, '0')}.jsonl`;
}

export function manifestKey(prefix: string, index: number): string {
  return `${prefix}segment-${String(index).padStart(6, '0')}.manifest.json`;
}

/** A writer's index object: `index/YYYY/MM/DD/<session-id>/<writer-id>.json` (v1: `index/YYYY/MM/DD/<session-id>.json`). */
export function indexKey(metadata: Pick<ChainMetadata, 'sessionId' | 'startedAt' | 'writer'>): string {
  if (metadata.writer === undefined) return `index/${metadata.startedAt.slice(0, 10).replaceAll('-', '/')}/${metadata.sessionId}.json`;
  return `index/${dayPath(metadata.startedAt)}/${encodeKeySegment(metadata.sessionId)}/${encodeKeySegment(metadata.writer)}.json`;
}

/** (v5) A published evidence key: `keys/<key-id>.json`. */
export function publishedKeyKey(keyId: string): string {
  return `keys/${encodeKeySegment(keyId)}.json`;
}

/** (v5) The checkpoint folder of a session: `checkpoints/YYYY/MM/DD/<session-id>/` (the session's start day). */
export function checkpointFolder(metadata: Pick<SessionMetadata, 'sessionId' | 'startedAt'>): string {
  return `checkpoints/${dayPath(metadata.startedAt)}/${encodeKeySegment(metadata.sessionId)}/`;
}

/** (v5) One checkpoint: `<checkpoint folder><writer-id>-<segment>-<time>.json`, the time as `YYYYMMDDTHHMMSSmmmZ`. */
export function checkpointKey(checkpoint: Pick<Checkpoint, 'sessionId' | 'startedAt' | 'writer' | 'lastIndex' | 'time'>): string {
  const time = checkpoint.time.replace(/[-:.]/g, '');
  return `${checkpointFolder(checkpoint)}${encodeKeySegment(checkpoint.writer)}-${String(checkpoint.lastIndex).padStart(6, '0')}-${time}.json`;
}

/** The session id a checkpoint key names (`checkpoints/YYYY/MM/DD/<session-id>/…`); undefined for any other key. */
export function checkpointKeySession(key: string): string | undefined {
  const parts = key.split('/');
  if (parts[0] !== 'checkpoints' || parts.length !== 6) return undefined;
  return decodeKeySegment(parts[4]!) ?? parts[4]!;
}

/** An object as the per-object index files it (v4): group '' is the core group, namespace '' cluster-scoped. */
export interface ObjectRef {
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

/** The folder of one object's history: `objects/<group>/<resource>/<namespace>/<name>/` (`core`, `_cluster` for ''). */
export function objectFolder(ref: ObjectRef): string {
  return `objects/${[ref.group || 'core', ref.resource, ref.namespace || '_cluster', ref.name].map(encodeKeySegment).join('/')}/`;
}

/** The object index file of one writer's segment for one object and day: `<object folder>YYYY/MM/DD/<session-id>-<writer-id>-<segment>.jsonl`. */
export function objectIndexKey(entry: ObjectRef & { time: string; session: string; writer: string }, segment: number): string {
  const file = `${encodeKeySegment(entry.session)}-${encodeKeySegment(entry.writer)}-${String(segment).padStart(6, '0')}.jsonl`;
  return `${objectFolder(entry)}${dayPath(entry.time)}/${file}`;
}

/** The session id an index object's key names; undefined for any other key. */
export function indexKeySession(key: string): string | undefined {
  const parts = key.split('/');
  if (parts[0] !== 'index' || !key.endsWith('.json')) return undefined;
  if (parts.length === 5) return parts[4]!.slice(0, -'.json'.length);
  return parts.length === 6 ? (decodeKeySegment(parts[4]!) ?? parts[4]!) : undefined;
}

/** The session folder a key under `sessions/` lies in, and the session id it names. */
export function sessionFolderOf(key: string): { prefix: string; sessionId: string } | undefined {
  const parts = key.split('/');
  if (parts[0] !== 'sessions' || parts.length < 7) return undefined;
  return { prefix: `${parts.slice(0, 6).join('/')}/`, sessionId: decodeKeySegment(parts[5]!) ?? parts[5]! };
}
