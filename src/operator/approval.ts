/**
 * What an ApprovalRequest's decisions add up to. Admission has already made every decision's `by` the
 * authenticated identity and checked that it may decide; this counts them: any Deny denies, enough
 * distinct approvers approve, a merged pull request applied by a GitOps applier approves on its own,
 * and an undecided request expires.
 */
import { mayDecide, type ApprovalParties } from '../api/identity.js';

export type ApprovalPhase = 'Pending' | 'Approved' | 'Denied' | 'Expired';

export interface Decision {
  decision: 'Approve' | 'Deny';
  by: string;
  reason?: string;
  at?: string;
  pullRequest?: { url?: string; author?: string; approvers?: string[] };
}

export interface ApprovalInput extends ApprovalParties {
  expiresAt: string;
  decisions?: Decision[];
}

export interface ApprovalRules {
  minApprovals: number;
  appliers: string[];
}

export interface ApprovalOutcome {
  phase: ApprovalPhase;
  approvals: number;
  reason: string;
  message: string;
}

export function evaluateApproval(request: ApprovalInput, rules: ApprovalRules, now: Date): ApprovalOutcome {
  const decisions = (request.decisions ?? []).filter((d) => mayDecide(d.by, request));
  const denial = decisions.find((d) => d.decision === 'Deny');
  const approvers = new Set(decisions.filter((d) => d.decision === 'Approve').map((d) => d.by));
  const merged = decisions.find((d) => d.decision === 'Approve' && d.pullRequest && rules.appliers.includes(d.by));
  if (denial) return { phase: 'Denied', approvals: approvers.size, reason: 'Denied', message: `denied by ${denial.by}: ${denial.reason ?? ''}`.trim() };
  if (merged) {
    return { phase: 'Approved', approvals: approvers.size, reason: 'PullRequestMerged', message: `approved by merged pull request ${merged.pullRequest?.url ?? ''} (applied by ${merged.by})` };
  }
  if (approvers.size >= rules.minApprovals) {
    return { phase: 'Approved', approvals: approvers.size, reason: 'Approved', message: `approved by ${[...approvers].join(', ')}` };
  }
  if (now.getTime() >= Date.parse(request.expiresAt)) {
    return { phase: 'Expired', approvals: approvers.size, reason: 'Expired', message: `expired at ${request.expiresAt} with ${approvers.size}/${rules.minApprovals} approvals` };
  }
  return { phase: 'Pending', approvals: approvers.size, reason: 'AwaitingApproval', message: `${approvers.size}/${rules.minApprovals} approvals` };
}
