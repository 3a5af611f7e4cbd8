/**
 * Single-use approval of one exact request (security invariant 6). A request held by a RequireApproval
 * rule opens an ApprovalRequest naming its method, path (the policy's patterns masked, as recorded: a
 * query can carry a secret), the hashes of its exact target and body, and its caller, owned by the grant it came
 * through; the grant's creator (`spec.requestedBy`) is its requester and the grant's subject its subject,
 * and neither may decide it (invariant 5). Once the policy's approvers approve it, the same request passes
 * exactly once: the gateway claims the approval by writing `status.consumedAt` under a resourceVersion
 * precondition, so two racing requests cannot both win, and a consumed approval never admits again.
 *
 * The hash label only finds candidates: labels are anyone's to edit. An approval counts only when its
 * whole `spec.request`, its policy, its parties and its owning grant are what this gateway would have
 * written for this request. Admission (config/admission/approvalrequests.yaml, `kubegate-approval-origin`)
 * lets only this policy's gateway ServiceAccount create an ApprovalRequest with a `request` or change its
 * owner, and the CRD makes `request`, `policyRef`, `requester` and `subject` immutable: so an object that
 * matches was opened by this gateway for this request, not forged by the requester or a namespace admin.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ApprovalRequest, ApprovalRequestSpec } from '../api/index.js';
import { grantApprovalParties } from '../api/identity.js';
import { KubeApiError, type RawKubeClient } from '../kube/raw-client.js';
import { accessGrants, approvalRequests, namespacedPath, ownerReference } from '../kube/custom-resources.js';
import type { CallerIdentity } from './auth.js';
import { GatewayError } from './errors.js';

const hashLabel = 'kubegate.dev/request-hash';

export interface HeldRequest {
  method: string;
  /** The request target exactly as sent: what the approval is bound to (by its hash). */
  target: string;
  /** The target as the ApprovalRequest shows it, the policy's patterns masked (`path` and `command` may carry secrets). */
  path: string;
  body?: Buffer;
  verb: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  command?: string[];
  rule?: string;
}

export type ApprovalOutcome = { admitted: true; request: string } | { admitted: false; request: string; phase: string };

/** What this gateway writes into an ApprovalRequest for `held` (all of it immutable once created). */
type ExpectedSpec = Pick<ApprovalRequestSpec, 'policyRef' | 'request' | 'requester' | 'subject'>;

export class CommandApprovals {
  constructor(
    private readonly api: RawKubeClient,
    private readonly policy: { namespace: string; name: string },
    private readonly ttlMs = 15 * 60_000,
  ) {}

  /** Claims an approved, unused ApprovalRequest for exactly this request, or opens one. */
  async admit(held: HeldRequest, identity: CallerIdentity, now = new Date()): Promise<ApprovalOutcome> {
    const expected = this.expectedSpec(held, identity);
    const hash = createHash('sha256').update([held.method, held.target, expected.request!.bodySha256, identity.user, identity.grant.uid].join('\0')).digest('hex').slice(0, 63);
    const list = await this.api.list<ApprovalRequest>(namespacedPath(approvalRequests, this.policy.namespace), { labelSelector: `${hashLabel}=${hash}` });
    const live = list.items.filter((r) => !r.status?.consumedAt && Date.parse(r.spec.expiresAt) > now.getTime() && opensFor(r, expected, identity.grant.uid));
    for (const request of live.filter((r) => r.status?.phase === 'Approved')) {
      if (await this.consume(request, now)) return { admitted: true, request: request.metadata!.name! };
    }
    const pending = live.find((r) => !r.status?.phase || r.status.phase === 'Pending');
    if (pending) return { admitted: false, request: pending.metadata!.name!, phase: 'Pending' };
    const created = await this.api.create<ApprovalRequest>(namespacedPath(approvalRequests, this.policy.namespace), {
      apiVersion: 'kubegate.dev/v1alpha1',
      kind: 'ApprovalRequest',
      metadata: {
        generateName: `${held.verb}-${held.resource ?? 'request'}-`.slice(0, 40),
        namespace: this.policy.namespace,
        labels: { [hashLabel]: hash },
        // the grant it came through (not blocking its deletion: the gateway may not touch grants)
        ownerReferences: [{ ...ownerReference(accessGrants, { metadata: { name: identity.grant.name, uid: identity.grant.uid } }), blockOwnerDeletion: false }],
      },
      spec: {
        ...expected,
        reason: `${held.method} ${held.path} held by rule ${held.rule ?? '(default action)'}`,
        expiresAt: new Date(now.getTime() + this.ttlMs).toISOString(),
      },
    });
    return { admitted: false, request: created.metadata!.name!, phase: 'Pending' };
  }

  private expectedSpec(held: HeldRequest, identity: CallerIdentity): ExpectedSpec {
    if (!identity.requestedBy) throw new GatewayError('KG_DENIED', `grant ${identity.grant.namespace}/${identity.grant.name} names no requestedBy, so no one can be kept from approving their own request`);
    const bodySha256 = createHash('sha256').update(held.body ?? Buffer.alloc(0)).digest('hex');
    return {
      policyRef: { name: this.policy.name },
      request: {
        verb: held.verb,
        path: held.path,
        targetSha256: createHash('sha256').update(held.target).digest('hex'),
        bodySha256,
        ...(held.namespace ? { namespace: held.namespace } : {}),
        ...(held.resource ? { resource: held.resource } : {}),
        ...(held.subresource ? { subresource: held.subresource } : {}),
        ...(held.name ? { name: held.name } : {}),
        ...(held.command ? { command: held.command } : {}),
        ...(held.rule ? { rule: held.rule } : {}),
        user: identity.user,
        groups: identity.groups,
        policy: this.policy.name,
      },
      ...grantApprovalParties({ requestedBy: identity.requestedBy, subject: identity.subject }),
    };
  }

  private async consume(request: ApprovalRequest, now: Date): Promise<boolean> {
    try {
      await this.api.patch(
        `${namespacedPath(approvalRequests, this.policy.namespace, request.metadata!.name!)}/status`,
        [
          { op: 'test', path: '/metadata/resourceVersion', value: request.metadata!.resourceVersion },
          { op: 'add', path: '/status/consumedAt', value: now.toISOString() },
        ],
        'application/json-patch+json',
      );
      return true;
    } catch (error) {
      // another request claimed it first (precondition failed), or it is gone
      if (error instanceof KubeApiError && [404, 409, 422].includes(error.status)) return false;
      throw error;
    }
  }
}

/**
 * Whether `candidate` is the ApprovalRequest this gateway opened for exactly this request through this
 * grant: the same request, policy and parties, owned by the same grant (a grant recreated under the same
 * name has another uid).
 */
function opensFor(candidate: ApprovalRequest, expected: ExpectedSpec, grantUid: string): boolean {
  const { spec } = candidate;
  return (
    isDeepStrictEqual(spec.policyRef, expected.policyRef) &&
    isDeepStrictEqual(spec.request, expected.request) &&
    spec.requester === expected.requester &&
    spec.subject === expected.subject &&
    (candidate.metadata?.ownerReferences ?? []).some((owner) => owner.kind === 'AccessGrant' && owner.uid === grantUid)
  );
}
