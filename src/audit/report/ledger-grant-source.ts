/**
 * The report's grant records from the access ledger (src/audit/ledger.ts): requester, reason, the
 * decisions on the grant and on its ApprovalRequest (with their pull requests), its active window —
 * still there after the AccessGrant and ApprovalRequest are deleted. `LedgerFirst` asks the ledger and,
 * for an object it has no chain of (a policy without storage, a grant older than the ledger), the
 * cluster.
 */
import { findChain, lastOf, type LedgerChain } from '../ledger.js';
import type { LedgerEntry } from '../../recording/ledger.js';
import type { RecordingStore } from '../../recording/store.js';
import { defined } from '../../util/defined.js';
import type { ApprovalRecord, GrantDecision, GrantRecord, GrantRef, GrantSource } from './grant-source.js';

const phases: Array<[LedgerEntry['event'], string]> = [['revoked', 'Revoked'], ['expired', 'Expired'], ['denied', 'Denied'], ['activated', 'Active']];

/** The decisions an entry records: a merged pull request as one approval per reviewer (as the cluster source reads it), else its decider's. */
function decisionsOf(entry: LedgerEntry): GrantDecision[] {
  const pullRequest = entry.pullRequest;
  if (pullRequest && entry.kind === 'AccessGrant') {
    return (pullRequest.approvers ?? []).map((by) => ({ decision: 'Approve', by, reason: `approved pull request ${pullRequest.url}`, pullRequest: pullRequest.url, ...defined({ at: pullRequest.mergedAt }) }));
  }
  return [{ decision: entry.decision!, by: entry.actor ?? '', reason: entry.reason ?? '', at: entry.at, ...defined({ pullRequest: pullRequest?.url }) }];
}

const decisions = (chain: LedgerChain) => chain.entries.filter((entry) => entry.event === 'decision').flatMap(decisionsOf);

/** The grant's phase as its chain last recorded it; Pending before any of activated, denied, expired, revoked. */
function phaseOf(chain: LedgerChain): string {
  const events = new Set(chain.entries.map((entry) => entry.event));
  return phases.find(([event]) => events.has(event))?.[1] ?? 'Pending';
}

export class LedgerGrantSource implements GrantSource {
  readonly name: string;

  constructor(private readonly store: RecordingStore) {
    this.name = `the access ledger in ${store.url}`;
  }

  /** Undefined when the ledger has no chain of that grant. */
  async find(ref: GrantRef, existedAt = new Date().toISOString()): Promise<GrantRecord | undefined> {
    const chain = await findChain(this.store, { kind: 'AccessGrant', ...ref }, existedAt);
    if (!chain) return undefined;
    const created = lastOf(chain, 'created');
    const activated = lastOf(chain, 'activated');
    const decided = lastOf(chain, 'denied') ?? activated;
    const record: GrantRecord = {
      source: 'ledger',
      decisions: decisions(chain),
      phase: phaseOf(chain),
      ...defined({
        requester: created?.actor, reason: created?.reason, approvalRequest: decided?.approvalRequest, activatedAt: activated?.at, expiresAt: activated?.expiresAt,
        revokedAt: lastOf(chain, 'revoked')?.at, deletedAt: lastOf(chain, 'deleted')?.at,
      }),
    };
    if (record.approvalRequest) {
      const approval = await this.findApproval(ref.namespace, record.approvalRequest, activated?.at ?? existedAt);
      record.decisions.push(...(approval?.decisions ?? []));
      if (!approval) record.missing = `the ledger has no chain of ApprovalRequest ${record.approvalRequest}`;
      chain.problems.push(...(approval?.problems ?? []));
    }
    if (chain.problems.length > 0) record.problems = chain.problems;
    return record;
  }

  async grant(ref: GrantRef, existedAt?: string): Promise<GrantRecord> {
    return (await this.find(ref, existedAt)) ?? { decisions: [], missing: `${this.name} has no chain of this grant` };
  }

  async findApproval(namespace: string, name: string, existedAt = new Date().toISOString()): Promise<(ApprovalRecord & { problems?: string[] }) | undefined> {
    const chain = await findChain(this.store, { kind: 'ApprovalRequest', namespace, name }, existedAt);
    return chain && { decisions: decisions(chain), ...(chain.problems.length > 0 ? { problems: chain.problems } : {}) };
  }

  async approval(namespace: string, name: string, existedAt?: string): Promise<ApprovalRecord> {
    return (await this.findApproval(namespace, name, existedAt)) ?? { decisions: [], missing: `${this.name} has no chain of ApprovalRequest ${name}` };
  }
}

/** The ledger where it has the object, else `fallback` (the cluster). */
export class LedgerFirst implements GrantSource {
  readonly name: string;

  constructor(
    private readonly ledger: LedgerGrantSource,
    private readonly fallback: GrantSource,
  ) {
    this.name = `${ledger.name}, else ${fallback.name}`;
  }

  async grant(ref: GrantRef, existedAt?: string): Promise<GrantRecord> {
    return (await this.ledger.find(ref, existedAt)) ?? this.fallback.grant(ref, existedAt);
  }

  async approval(namespace: string, name: string, existedAt?: string): Promise<ApprovalRecord> {
    return (await this.ledger.findApproval(namespace, name, existedAt)) ?? this.fallback.approval(namespace, name, existedAt);
  }
}
