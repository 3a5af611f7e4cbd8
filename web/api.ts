/**
 * The console server's JSON API as the pages see it (the shapes of /work/tools/console-contract.md,
 * README "Console"). Mutations carry the CSRF token /api/me hands out; every error keeps the server's
 * own message, which the pages show verbatim (an API server's refusal is the approver's answer).
 */
export interface Me {
  user: string;
  groups: string[];
  csrf: string;
  can: { readSessions: boolean; watchSessions: boolean; endSessions: boolean };
}

/** A row of the sessions list: what the server's index knows without opening the session. */
export interface SessionRow {
  id: string;
  subject: string;
  grant: string;
  policy: string;
  /** The kubectl command line the client sent, where it sent one. */
  client?: string;
  started: string;
  ended?: string;
  open: boolean;
  events: number;
  hasDenial: boolean;
  hasApproval: boolean;
  /** Exec and attach commands. */
  commands: string[];
  decisions: string[];
  writers: number;
}

export interface Page<T> {
  items: T[];
  next?: string;
  total?: number;
}

export interface SearchHit {
  session: string;
  time: string;
  subject: string;
  kind: string;
  line: string;
}

export interface Approval {
  namespace: string;
  name: string;
  kind: 'grant' | 'request';
  phase: string;
  requester: string;
  subject: string;
  policy: string;
  rule?: string;
  reason?: string;
  request?: { verb: string; path: string; body?: string };
  grant?: { name: string; access: unknown; duration?: string };
  created: string;
  decisions: { decision: string; by: string; reason: string; time: string }[];
  canDecide: boolean;
}

export interface Grant {
  namespace: string;
  name: string;
  subject: string;
  phase: string;
  expires?: string;
  access: unknown;
  policy: string;
  requestedBy: string;
}

/** One entry of the access ledger (src/recording/ledger.ts), its signature named by key. */
export interface LedgerEntry {
  seq: number;
  id: string;
  event: string;
  at: string;
  recordedAt: string;
  uid: string;
  policy?: string;
  actor?: string;
  message?: string;
  subject?: { kind: string; name: string; namespace?: string };
  reason?: string;
  access?: unknown;
  duration?: string;
  expiresAt?: string;
  decision?: 'Approve' | 'Deny';
  pullRequest?: { url: string; author?: string; approvers?: string[] };
  approvalRequest?: string;
  bindings?: { kind: string; namespace?: string; name: string; roleRef: { kind: string; name: string } }[];
  signedBy?: string;
}

/** One object's chain in the ledger, and what is wrong with it (a hole, a changed entry, a bad signature). */
export interface LedgerChain {
  uid?: string;
  entries: LedgerEntry[];
  problems: string[];
}

export interface GrantLedger extends LedgerChain {
  namespace: string;
  name: string;
  approval?: ({ name: string } & LedgerChain) | { name: string; missing: string };
}

/** A body the timeline carries: its size when binary (recorded as base64), or its masked text (src/console/bodies.ts). */
export interface Body {
  /** Bytes recorded. */
  bytes: number;
  /** The size before the gateway cut it at the policy's recording.maxBodyBytes. */
  totalBytes?: number;
  contentType?: string;
  text?: string;
  /** `text` is only the first part of what was recorded: the whole is at `api.bodyUrl`. */
  cut?: boolean;
}

/** The object an API call names, as /api/history takes it (`RESOURCE` or `RESOURCE.GROUP`). */
export interface CallObject {
  resource: string;
  namespace?: string;
  name: string;
}

/** One recorded call on an object (src/recording/object-index.ts). */
export interface HistoryEntry {
  time: string;
  session: string;
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  subject: string;
  grant: string;
  approval?: string;
  rule?: string;
  decision: string;
  status: number | null;
  command?: string;
  exitCode?: number;
}

/** One line of a session's timeline (src/audit/timeline.ts, as JSON). */
export type TimelineEntry =
  | { kind: 'session-start'; time: string; subject: string; grant: string; policy: string; client: { address?: string; userAgent?: string; command?: string } }
  | { kind: 'writer-start'; time: string; writer: string }
  | { kind: 'writer-end'; time: string; writer: string; reason: string }
  | { kind: 'api'; time: string; requestId: string; call: string; contentType?: string; requestBody?: Body; action?: string; rule?: string; message?: string; approval?: string; status?: number; durationMs?: number; responseBody?: Body; object?: CallObject }
  | { kind: 'decision'; time: string; requestId: string; action: string; rule?: string; message: string; approval?: string }
  | { kind: 'stream-open'; time: string; requestId: string; protocol: string; command?: string[] }
  | { kind: 'stream-line'; time: string; requestId: string; channel: string; line: string }
  | { kind: 'stream-close'; time: string; requestId: string; reason: string; bytes: Record<string, number> }
  | { kind: 'gap'; time: string; afterSeq: number; reason: string; writer?: string }
  | { kind: 'session-end'; time: string; reason: string };

export interface SessionDetail {
  session: SessionRow;
  /** Counted while the events were read. */
  counts: { requests: number; denied: number; streams: number };
  timeline: TimelineEntry[];
  /** The timeline stops at the server's cap (a session of endless output). */
  truncated?: boolean;
  /** Reading the recording failed part way: the timeline holds what was read before. */
  error?: string;
}

export interface Verification {
  status: 'intact' | 'tampered' | 'open';
  problems: string[];
  notes?: string[];
  segments?: number;
  events?: number;
  bytes?: number;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

let csrf = '';

/** The token mutations must carry, from /api/me. */
export function useCsrf(token: string): void {
  csrf = token;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-kubegate-csrf'] = csrf;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  if (!response.ok) throw failure(response, text);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The server's own message from an error answer (`{"error", "code"}`), else its text or status. */
function failure(response: Response, text: string): ApiError {
  let error: { error?: string; message?: string; code?: string } | undefined;
  try {
    error = JSON.parse(text) as typeof error;
  } catch {
    error = undefined;
  }
  return new ApiError(error?.error ?? error?.message ?? (text.trim() || `${response.status} ${response.statusText}`), response.status, error?.code);
}

/** `?a=1&b=2` of the given values, the empty ones left out. */
export function query(values: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : '';
}

const segment = encodeURIComponent;

export const api = {
  me: () => call<Me>('GET', '/api/me'),
  /** Before signing in: the identity provider this console signs people in with, if any. */
  authConfig: () => call<{ oidc?: { issuer: string; login: string }; oidcError?: string }>('GET', '/auth/config'),
  logout: () => call<unknown>('POST', '/api/logout'),
  sessions: (filters: Record<string, string | undefined>) => call<Page<SessionRow>>('GET', `/api/sessions${query(filters)}`),
  search: (filters: Record<string, string | undefined>) => call<Page<SearchHit>>('GET', `/api/search${query(filters)}`),
  history: (filters: Record<string, string | undefined>) => call<{ items: HistoryEntry[] }>('GET', `/api/history${query(filters)}`),
  session: (id: string) => call<SessionDetail>('GET', `/api/sessions/${segment(id)}`),
  verify: (id: string) => call<Verification>('GET', `/api/sessions/${segment(id)}/verify`),
  /** A terminal stream as asciicast v2 text; a recording that cannot be read to its end fails here, not in the player. */
  cast: async (id: string, stream: string): Promise<string> => {
    const response = await fetch(`/api/sessions/${segment(id)}/streams/${segment(stream)}.cast`, { credentials: 'same-origin' });
    // the server streams a cast as it reads the recording: a recording it cannot read to the end cuts the answer
    const text = await response.text().catch(() => Promise.reject(new ApiError('the recording could not be read to its end', response.status)));
    if (!response.ok) throw failure(response, text);
    return text;
  },
  /** Where a recorded body is fetched whole (the timeline cuts a large one). */
  bodyUrl: (id: string, requestId: string, side: 'request' | 'response') => `/api/sessions/${segment(id)}/bodies/${segment(requestId)}/${side}`,
  endSession: (id: string, reason: string) => call<{ grant: { namespace: string; name: string }; ended: number; errors?: string[] }>('POST', `/api/sessions/${segment(id)}/end`, { reason }),
  approvals: () => call<{ items: Approval[] }>('GET', '/api/approvals'),
  decide: (namespace: string, name: string, decision: 'Approve' | 'Deny', reason: string) => call<unknown>('POST', `/api/approvals/${segment(namespace)}/${segment(name)}`, { decision, reason }),
  grants: () => call<{ items: Grant[] }>('GET', '/api/grants?phase=Active'),
  /** A grant's access ledger; `at`: a time by which it existed (a session's start), default now. */
  ledger: (namespace: string, name: string, at?: string) => call<GrantLedger>('GET', `/api/grants/${segment(namespace)}/${segment(name)}/ledger${query({ at })}`),
  revoke: (namespace: string, name: string, reason: string) => call<unknown>('POST', `/api/grants/${segment(namespace)}/${segment(name)}/revoke`, { reason }),
};
