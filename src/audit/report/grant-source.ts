/**
 * Where the report learns who asked for a grant, why, who approved it and when it was active.
 *
 * Two sources: the access ledger in the store (ledger-grant-source.ts), which keeps a grant after it is
 * deleted, and the cluster (the AccessGrant and its ApprovalRequest, `--kubeconfig`), which forgets it;
 * the report prefers the ledger. Without either the report still names each grant as the recordings do
 * (namespace, name, uid, subject) and the window its sessions span.
 */
import type { AccessGrant, ApprovalRequest } from '../../api/index.js';
import { apiMessage, isNotFound, type KubeClients } from '../../kube/client.js';
import { accessGrants, approvalRequests, getCustom } from '../../kube/resources.js';
import { defined } from '../../util/defined.js';

export interface GrantDecision {
  decision: string;
  by: string;
  reason: string;
  at?: string;
  /** A merged pull request that carried the decision (GitOps). */
  pullRequest?: string;
}

export interface GrantRecord {
  /** Which source answered. */
  source?: 'ledger' | 'cluster';
  requester?: string;
  reason?: string;
  phase?: string;
  /** The ApprovalRequest raised for the grant. */
  approvalRequest?: string;
  decisions: GrantDecision[];
  activatedAt?: string;
  expiresAt?: string;
  revokedAt?: string;
  /** When the AccessGrant was deleted (the ledger keeps it). */
  deletedAt?: string;
  /** The ledger chain's own problems (an entry missing or changed). */
  problems?: string[];
  /** What the source could not tell (the grant is gone, the cluster refused). */
  missing?: string;
}

export interface GrantRef {
  namespace: string;
  name: string;
  uid: string;
}

/** The decisions on one ApprovalRequest (a held API request's), or why they are not known. */
export interface ApprovalRecord {
  decisions: GrantDecision[];
  missing?: string;
}

export interface GrantSource {
  /** Where the records come from, as the report names it ("cluster https://…"). */
  readonly name: string;
  /** `existedAt`: a time the grant existed (its first session's start), where the ledger looks for it. */
  grant(ref: GrantRef, existedAt?: string): Promise<GrantRecord>;
  /** The ApprovalRequest that admitted a held request, in its policy's namespace; `existedAt`: the call's time. */
  approval(namespace: string, name: string, existedAt?: string): Promise<ApprovalRecord>;
}

/** The grant as the cluster holds it now: the AccessGrant, its ApprovalRequest's decisions, its pull request. */
export class ClusterGrantSource implements GrantSource {
  constructor(
    private readonly clients: KubeClients,
    readonly name: string,
  ) {}

  async grant(ref: GrantRef): Promise<GrantRecord> {
    let grant: AccessGrant;
    try {
      grant = await getCustom<AccessGrant>(this.clients, accessGrants, ref.namespace, ref.name);
    } catch (error) {
      return { decisions: [], missing: isNotFound(error) ? 'the AccessGrant is no longer in the cluster' : `the AccessGrant could not be read: ${apiMessage(error)}` };
    }
    if (grant.metadata.uid !== ref.uid) return { decisions: [], missing: `the AccessGrant of that name in the cluster is another one (uid ${grant.metadata.uid})` };
    const { spec, status } = grant;
    const record: GrantRecord = {
      source: 'cluster',
      decisions: [],
      reason: spec.reason,
      ...defined({ requester: spec.requestedBy, phase: status?.phase, approvalRequest: status?.approvalRequest, activatedAt: status?.activatedAt, expiresAt: status?.expiresAt, revokedAt: status?.revokedAt }),
    };
    const pullRequest = spec.approval?.pullRequest;
    if (pullRequest) for (const by of pullRequest.approvers ?? []) record.decisions.push({ decision: 'Approve', by, reason: `approved pull request ${pullRequest.url}`, pullRequest: pullRequest.url, ...defined({ at: pullRequest.mergedAt }) });
    if (status?.approvalRequest) {
      const approval = await this.approval(ref.namespace, status.approvalRequest);
      record.decisions.push(...approval.decisions);
      if (approval.missing) record.missing = approval.missing;
    }
    return record;
  }

  async approval(namespace: string, name: string): Promise<ApprovalRecord> {
    let request: ApprovalRequest;
    try {
      request = await getCustom<ApprovalRequest>(this.clients, approvalRequests, namespace, name);
    } catch (error) {
      return { decisions: [], missing: isNotFound(error) ? `ApprovalRequest ${name} is no longer in the cluster` : `ApprovalRequest ${name} could not be read: ${apiMessage(error)}` };
    }
    return { decisions: (request.spec.decisions ?? []).map((d) => ({ decision: d.decision, by: d.by, reason: d.reason, ...defined({ at: d.at, pullRequest: d.pullRequest?.url }) })) };
  }
}
