/**
 * One session as the compliance report shows it: its metadata, its verification result, and the calls an
 * auditor must see — every mutating call, every denied or approval-gated request, every exec (with its
 * command) and every escalation — folded from its events one at a time. Reads are counted, not listed.
 */
import { describeApiCall, type RecordedAttributes } from '../api-call.js';
import type { SessionEvent } from '../reader.js';
import type { VerifyReport } from '../verify.js';
import type { SigningSummary } from '../evidence-check.js';
import type { LockSummary } from '../object-lock.js';
import type { SessionSummary } from '../query.js';

/** Why a call is in the report (a call can be several). */
export type CallKind = 'mutating' | 'denied' | 'approval-gated' | 'exec' | 'escalation';

export interface ReportCall {
  time: string;
  requestId: string;
  method: string;
  path: string;
  verb: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** "delete pods payments/api-7". */
  call: string;
  /** The first decision (Allow, Deny, RequireApproval…), its rule and message. */
  decision?: string;
  rule?: string;
  message?: string;
  /** The ApprovalRequest that let a gated request through. */
  approval?: string;
  /** Who approved it ("alice"), as the grant source tells; absent without one. */
  approvers?: string[];
  /** What the escalation detector found, as the decision message names it. */
  escalation?: string;
  /** The HTTP status the client got; absent when no response was recorded. */
  status?: number;
  /** An exec's or attach's command. */
  command?: string[];
  kinds: CallKind[];
  writer?: string;
}

export interface SessionVerification {
  status: VerifyReport['status'];
  problems: string[];
  notes: string[];
  objectLock: LockSummary;
  /** "object lock GOVERNANCE until … on 8/8 objects", as `sessions verify` prints it. */
  lock: string;
  /** (v5) Signatures and checkpoints: `unsigned` for a session recorded before them. */
  signing: SigningSummary;
}

export interface CallCounts {
  /** Every API request of the session, reads included. */
  requests: number;
  mutating: number;
  denied: number;
  approvalGated: number;
  exec: number;
  escalations: number;
}

export interface SessionReport {
  sessionId: string;
  subject: SessionSummary['subject'];
  grant: SessionSummary['grant'];
  policy: SessionSummary['policy'];
  client: SessionSummary['client'];
  startedAt: string;
  endedAt: string | null;
  writers: string[];
  verification: SessionVerification;
  counts: CallCounts;
  calls: ReportCall[];
}

export const mutatingVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const escalationMark = /\(escalation: (.*)\)$/;
/** How the gateway records the approval that admitted a held request (src/gateway/admit.ts), when the decision has no `approval` field. */
const approvedOnce = /^approved once by ApprovalRequest (\S+)$/;

export function describeLock(lock: LockSummary): string {
  if (lock.requested === 0) return 'no object lock requested';
  if (lock.modes.length === 0) return `object lock requested on ${lock.requested} objects, none in force (the store does not lock)`;
  return `object lock ${lock.modes.join('/')} until ${lock.earliestRetainUntil} on ${lock.locked}/${lock.requested} objects`;
}

export function verification(report: VerifyReport): SessionVerification {
  return { status: report.status, problems: report.problems.map((problem) => problem.message), notes: report.notes, objectLock: report.objectLock, lock: describeLock(report.objectLock), signing: report.signing };
}

export const emptyCounts = (): CallCounts => ({ requests: 0, mutating: 0, denied: 0, approvalGated: 0, exec: 0, escalations: 0 });

export function addCounts(sum: CallCounts, counts: CallCounts): void {
  for (const key of Object.keys(counts) as (keyof CallCounts)[]) sum[key] += counts[key];
}

/** Folds a session's events into the calls the report lists; only calls still waiting for their response are held. */
export class CallCollector {
  readonly counts = emptyCounts();
  private readonly pending = new Map<string, ReportCall>();
  private readonly calls: ReportCall[] = [];
  /** Each pending or listed call's place among the session's requests. */
  private readonly order = new Map<ReportCall, number>();

  push(event: SessionEvent): void {
    switch (event.type) {
      case 'request':
      {
        const call = requestCall(event.time, event.requestId, event.method, event.path, event.attributes as RecordedAttributes, event.writer);
        this.order.set(call, this.counts.requests++);
        this.pending.set(event.requestId, call);
        return;
      }
      case 'decision':
        return this.decide(event.requestId, event.action, event.message, event.rule, event.approval);
      case 'stream-open': {
        const call = this.pending.get(event.requestId);
        if (call && event.command) call.command = event.command;
        return;
      }
      case 'response': {
        const call = this.pending.get(event.requestId);
        if (!call) return;
        call.status = event.status;
        this.settle(event.requestId);
        return;
      }
      default:
        return;
    }
  }

  /** The session's reported calls, those without a response included (an open session, a torn tail). */
  end(): ReportCall[] {
    for (const requestId of [...this.pending.keys()]) this.settle(requestId);
    // settled as they finished; listed in the order they were made
    return this.calls.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
  }

  private decide(requestId: string, action: string, message: string, rule: string | undefined, approval: string | undefined): void {
    const call = this.pending.get(requestId);
    if (!call) return;
    if (call.decision === undefined) Object.assign(call, { decision: action, message }, rule ? { rule } : {});
    const approvedBy = approval ?? (action === 'Allow' ? approvedOnce.exec(message)?.[1] : undefined);
    if (approvedBy) call.approval = approvedBy;
    const escalation = escalationMark.exec(message)?.[1];
    if (escalation && !call.escalation) call.escalation = escalation;
    if (action === 'Deny' && call.decision !== 'Deny') Object.assign(call, { decision: 'Deny', message }, rule ? { rule } : {});
  }

  /** Classifies a finished call; keeps it when the report lists it. */
  private settle(requestId: string): void {
    const call = this.pending.get(requestId)!;
    this.pending.delete(requestId);
    const kinds: CallKind[] = [];
    if (mutatingVerbs.has(call.verb) && !isStream(call)) kinds.push('mutating');
    if (call.decision === 'Deny') kinds.push('denied');
    if (call.decision === 'RequireApproval') kinds.push('approval-gated');
    if (isStream(call)) kinds.push('exec');
    if (call.escalation) kinds.push('escalation');
    if (kinds.length === 0) {
      this.order.delete(call);
      return;
    }
    call.kinds = kinds;
    const key = { mutating: 'mutating', denied: 'denied', 'approval-gated': 'approvalGated', exec: 'exec', escalation: 'escalations' } as const;
    for (const kind of kinds) this.counts[key[kind]]++;
    this.calls.push(call);
  }
}

const streamSubresources = new Set(['exec', 'attach']);
const isStream = (call: ReportCall) => call.resource === 'pods' && streamSubresources.has(call.subresource ?? '');

function requestCall(time: string, requestId: string, method: string, path: string, attributes: RecordedAttributes & { apiVersion?: string }, writer: string | undefined): ReportCall {
  const optional = { apiGroup: attributes.apiGroup, apiVersion: attributes.apiVersion, resource: attributes.resource, subresource: attributes.subresource, namespace: attributes.namespace, name: attributes.name, writer };
  const present = Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined && value !== ''));
  return { time, requestId, method, path, verb: attributes.verb, call: describeApiCall(attributes), kinds: [], ...present };
}
