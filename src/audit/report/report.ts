/**
 * `kubegate report`: the compliance report of a time window, grant by grant, session by session.
 *
 * Streaming: the index objects of the window are read first (small: they say which grant each session
 * belongs to), then each session in turn is verified and its events folded into the calls the report
 * lists, handed to the writer and dropped. Only one session's listed calls are ever held; the writers
 * that put the summary on top (HTML, JSON) keep their body in a temporary file until the counts are known.
 */
import { findSessions, sessionFolders, type FoundSession, type SessionFilter, type TimeRange } from '../query.js';
import { sessionEvents, storedSession } from '../reader.js';
import { verifyMissingSession, verifySession } from '../verify.js';
import { checkpointedSessions, loadKeyRing } from '../evidence-check.js';
import type { KeyRing } from '../../pki/signing.js';
import type { RecordingStore } from '../../recording/store.js';
import { addCounts, CallCollector, emptyCounts, verification, type CallCounts, type SessionReport } from './session-report.js';
import type { GrantRecord, GrantRef, GrantSource } from './grant-source.js';

export interface ReportHead {
  generatedAt: string;
  store: string;
  from: string;
  to: string;
  filter: SessionFilter;
  /** Where grant records come from; null when none was given (the recordings alone). */
  grantSource: string | null;
}

export interface GrantSection extends GrantRef {
  subject: SessionReport['subject'];
  policy: string;
  /** The first session's start and the last session's end (null while one is open), from the recordings. */
  sessionsFrom: string;
  sessionsTo: string | null;
  sessions: number;
  /** What the grant source says; undefined without one. */
  record?: GrantRecord;
}

export interface ReportSummary extends CallCounts {
  grants: number;
  sessions: number;
  intact: number;
  open: number;
  tampered: number;
  /**
   * Sessions the checkpoint log names that the store holds no index of (removed), with what verify says of
   * them; looked for only in a report not narrowed by subject, grant or namespace (a checkpoint names none).
   */
  missing: MissingSession[];
}

export interface MissingSession {
  sessionId: string;
  problems: string[];
}

/** A report format: called in order — grant, its sessions, the next grant… — then end with the totals. */
export interface ReportWriter {
  grant(section: GrantSection): Promise<void>;
  session(report: SessionReport, grant: GrantSection): Promise<void>;
  end(summary: ReportSummary): Promise<void>;
}

export interface ReportOptions {
  filter: SessionFilter;
  range: TimeRange;
  grants?: GrantSource;
  requireLock?: boolean;
}

const grantKey = (session: FoundSession) => JSON.stringify([session.summary.grant.namespace, session.summary.grant.name, session.summary.grant.uid]);

/** The window's sessions by grant (index objects only), grants in order of their first session. */
async function sessionsByGrant(store: RecordingStore, options: ReportOptions): Promise<FoundSession[][]> {
  const groups = new Map<string, FoundSession[]>();
  for await (const session of findSessions(store, options.filter, options.range)) {
    const key = grantKey(session);
    groups.set(key, [...(groups.get(key) ?? []), session]);
  }
  const byStart = (a: FoundSession, b: FoundSession) => (a.summary.startedAt < b.summary.startedAt ? -1 : a.summary.startedAt > b.summary.startedAt ? 1 : 0);
  return [...groups.values()].map((sessions) => sessions.sort(byStart)).sort((a, b) => byStart(a[0]!, b[0]!));
}

async function grantSection(sessions: FoundSession[], source: GrantSource | undefined): Promise<GrantSection> {
  const first = sessions[0]!.summary;
  const ends = sessions.map((session) => session.summary.endedAt);
  const section: GrantSection = {
    ...first.grant,
    subject: first.subject,
    policy: `${first.policy.namespace}/${first.policy.name}`,
    sessionsFrom: first.startedAt,
    sessionsTo: ends.includes(null) ? null : ends.reduce((latest, end) => (end! > latest! ? end : latest)),
    sessions: sessions.length,
  };
  if (source) section.record = await source.grant(first.grant, first.startedAt);
  return section;
}

/** Names the approvers of each call an ApprovalRequest admitted (held in the policy's namespace), as the source knows them. */
async function addApprovers(report: SessionReport, source: GrantSource): Promise<void> {
  for (const call of report.calls) {
    if (!call.approval) continue;
    const approval = await source.approval(report.policy.namespace, call.approval, call.time);
    call.approvers = approval.decisions.filter((decision) => decision.decision === 'Approve').map((decision) => decision.by);
  }
}

/** Verifies one session, then reads its events once into the report's calls. */
export async function reportSession(store: RecordingStore, session: FoundSession, requireLock = false, keys?: KeyRing): Promise<SessionReport> {
  const stored = await storedSession(store, session.sessionId, session.indexes);
  const verified = await verifySession(store, stored, { requireLock, ...(keys ? { keys } : {}) });
  const collector = new CallCollector();
  try {
    for await (const event of sessionEvents(store, stored)) collector.push(event);
  } catch (error) {
    // a segment that is not events is tampering verify has already named; the calls read so far stand
    if (verified.status !== 'tampered') throw error;
  }
  const index = session.summary;
  return {
    sessionId: session.sessionId,
    subject: index.subject,
    grant: index.grant,
    policy: index.policy,
    client: index.client,
    startedAt: index.startedAt,
    endedAt: index.endedAt,
    writers: verified.writers,
    verification: verification(verified),
    calls: collector.end(),
    counts: collector.counts,
  };
}

async function hasAny(store: RecordingStore, prefix: string): Promise<boolean> {
  for await (const _ of store.list(prefix)) return true;
  return false;
}

/** The checkpointed sessions of the window that the report did not find in the store's index: removed whole, or their index. */
async function missingSessions(store: RecordingStore, range: TimeRange, reported: Set<string>, keys: KeyRing): Promise<MissingSession[]> {
  const unreported: { folder: string; sessionId: string }[] = [];
  for await (const session of checkpointedSessions(store, range)) {
    // an index there (`index/` mirrors the checkpoint folder) is a session outside the window's times: not missing
    if (!reported.has(session.sessionId) && !(await hasAny(store, session.folder.replace(/^checkpoints\//, 'index/')))) unreported.push(session);
  }
  if (unreported.length === 0) return [];
  const folders = new Set<string>();
  for await (const folder of sessionFolders(store, range)) folders.add(folder.sessionId);
  const missing: MissingSession[] = [];
  for (const { folder, sessionId } of unreported) {
    if (folders.has(sessionId)) {
      missing.push({ sessionId, problems: ['the checkpoint log names this session and the store holds its segments, but no index of it: its index was removed (`kubegate sessions verify --all` verifies what is left)'] });
      continue;
    }
    const verified = await verifyMissingSession(store, sessionId, folder, { keys });
    if (verified.problems.length > 0) missing.push({ sessionId, problems: verified.problems.map((problem) => problem.message) });
  }
  return missing;
}

export async function writeReport(store: RecordingStore, options: ReportOptions, writer: ReportWriter): Promise<ReportSummary> {
  const summary: ReportSummary = { grants: 0, sessions: 0, intact: 0, open: 0, tampered: 0, ...emptyCounts(), missing: [] };
  const reported = new Set<string>();
  const keys = await loadKeyRing(store); // once for the window: every session is checked against the same keys
  for (const sessions of await sessionsByGrant(store, options)) {
    const section = await grantSection(sessions, options.grants);
    summary.grants++;
    await writer.grant(section);
    for (const session of sessions) {
      const report = await reportSession(store, session, options.requireLock, keys);
      if (options.grants) await addApprovers(report, options.grants);
      summary.sessions++;
      reported.add(report.sessionId);
      summary[report.verification.status]++;
      addCounts(summary, report.counts);
      await writer.session(report, section);
    }
  }
  if (Object.values(options.filter).every((value) => !value)) summary.missing = await missingSessions(store, options.range, reported, keys);
  await writer.end(summary);
  return summary;
}
