/**
 * Which ledger entries an AccessGrant's or ApprovalRequest's state calls for (src/recording/ledger.ts
 * writes those its chain lacks). Derived from the object alone, so any reconcile — the first after a
 * crash, the one that sees a deletion — states the whole lifecycle so far, in the order it happened.
 */
import { grantLabel, type AccessGrant, type ApprovalRequest } from '../api/index.js';
import type { LedgerBinding, LedgerFacts, LedgerObject } from '../recording/ledger.js';
import { defined } from '../util/defined.js';

/** The actor of what the operator itself did (activation, expiry, the verdicts it computed). */
export const operatorActor = 'kubegate-operator';

type Conditions = NonNullable<NonNullable<AccessGrant['status']>['conditions']>;

const conditionOf = (conditions: Conditions | undefined, type: string) => conditions?.find((condition) => condition.type === type);

function ledgerObject(kind: LedgerObject['kind'], object: AccessGrant | ApprovalRequest): LedgerObject {
  const metadata = object.metadata;
  return { kind, namespace: metadata.namespace!, name: metadata.name!, uid: metadata.uid!, createdAt: new Date(String(metadata.creationTimestamp)).toISOString() };
}

const deleted = (object: LedgerObject, metadata: AccessGrant['metadata']): LedgerFacts[] =>
  metadata.deletionTimestamp ? [{ ...object, id: 'deleted', event: 'deleted', at: new Date(String(metadata.deletionTimestamp)).toISOString() }] : [];

/** The grant's lifecycle so far; `bindings` are the ones it makes while Active (grant-bindings.ts). */
export function grantFacts(grant: AccessGrant, bindings: LedgerBinding[], now: Date): LedgerFacts[] {
  const object = ledgerObject('AccessGrant', grant);
  const { spec, status } = grant;
  const base = { ...object, policy: spec.policyRef.name };
  const facts: LedgerFacts[] = [
    {
      ...base, id: 'created', event: 'created', at: object.createdAt, subject: spec.subject, reason: spec.reason, access: spec.access, approvalRequired: spec.approval?.required ?? false,
      ...defined({ actor: spec.requestedBy, duration: spec.duration, expiresAt: spec.expiresAt }),
    },
  ];
  const approved = conditionOf(status?.conditions, 'Approved');
  const pullRequest = spec.approval?.pullRequest;
  // a pull request counts (and is the grant's approval) only where the operator said so
  if (pullRequest && approved?.status === 'True' && approved.reason === 'PullRequestMerged') {
    facts.push({ ...base, id: 'decision-0', event: 'decision', decision: 'Approve', at: pullRequest.mergedAt ?? approved.lastTransitionTime, reason: `merged pull request ${pullRequest.url}`, pullRequest, ...defined({ actor: spec.requestedBy }) });
  }
  if (status?.activatedAt) {
    facts.push({ ...base, id: 'activated', event: 'activated', at: status.activatedAt, actor: operatorActor, bindings, ...defined({ expiresAt: status.expiresAt, approvalRequest: status.approvalRequest, message: approved?.message }) });
  }
  const phase = status?.phase;
  if (phase === 'Expired' || phase === 'Revoked' || phase === 'Denied') {
    const at = status?.revokedAt ?? conditionOf(status?.conditions, 'Ready')?.lastTransitionTime ?? now.toISOString();
    const event = phase.toLowerCase() as 'expired' | 'revoked' | 'denied';
    facts.push({ ...base, id: event, event, at, actor: operatorActor, ...defined({ message: status?.message, approvalRequest: status?.approvalRequest }) });
  }
  return [...facts, ...deleted(object, grant.metadata)];
}

/** The approval's lifecycle so far: created, each decision (with its pull request), the verdict, deletion. */
export function approvalFacts(request: ApprovalRequest, now: Date): LedgerFacts[] {
  const object = ledgerObject('ApprovalRequest', request);
  const { spec, status } = request;
  const base = { ...object, ...defined({ policy: spec.policyRef?.name ?? spec.request?.policy }) };
  const target = spec.target ? { kind: spec.target.kind ?? 'AccessGrant', name: spec.target.name, ...defined({ uid: request.metadata.labels?.[grantLabel] }) } : undefined;
  const facts: LedgerFacts[] = [
    {
      ...base, id: 'created', event: 'created', at: object.createdAt, actor: spec.requester, requester: spec.requester, reason: spec.reason, expiresAt: spec.expiresAt,
      ...defined({ subjectName: spec.subject, target, request: spec.request as Record<string, unknown> | undefined }),
    },
  ];
  (spec.decisions ?? []).forEach((decision, index) => {
    facts.push({
      ...base, id: `decision-${index}`, event: 'decision', decision: decision.decision, actor: decision.by, reason: decision.reason, at: decision.at ?? now.toISOString(),
      ...defined({ pullRequest: decision.pullRequest }),
    });
  });
  const phase = status?.phase;
  if (phase === 'Approved' || phase === 'Denied' || phase === 'Expired') {
    const event = phase.toLowerCase() as 'approved' | 'denied' | 'expired';
    facts.push({ ...base, id: event, event, at: status?.decidedAt ?? now.toISOString(), actor: operatorActor, ...defined({ approvals: status?.approvals, message: status?.message ?? conditionOf(status?.conditions as Conditions | undefined, 'Decided')?.message }) });
  }
  return [...facts, ...deleted(object, request.metadata)];
}
