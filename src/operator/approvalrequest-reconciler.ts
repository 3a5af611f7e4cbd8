/**
 * ApprovalRequest: computes its phase from the decisions (see approval.ts) and the policy's minimum,
 * writes it with a condition and an Event when it changes, and requeues itself for its expiry instant.
 * The grant (or gateway) that waits on it watches its status. While it is Pending and its policy asks
 * for it (`approvers.notify`), the approvers are told once (approval-notify.ts), after its phase is
 * written, so approval never waits on the webhook: the `Notified` condition records how that went, and a
 * failure is retried with the workqueue's backoff until it succeeds or the request is decided.
 *
 * Under a policy that keeps a ledger (access-ledger.ts), a finalizer holds the request until its lifecycle,
 * deletion included, is in the store.
 *
 * Admission checks a decider against the named SessionPolicy only when that policy exists (a binding's
 * parameters are the policies there are, and CEL cannot ask whether one is missing), so a request naming
 * a policy that does not exist, or one created after the request (its decisions may predate it), is
 * denied for good: no decision on it ever counts.
 */
import type { AccessGrant, ApprovalRequest, SessionPolicy, SessionPolicyApproversNotify } from '../api/index.js';
import type { ObjectKey, ReconcileResult, Reconciler } from '../runtime/reconciler.js';
import { evaluateApproval, type ApprovalInput, type ApprovalOutcome } from './approval.js';
import { NotifyError, notificationMessage, postNotification, webhookUrl } from './approval-notify.js';
import { setCondition, type Condition } from './conditions.js';
import type { EventRecorder } from './events.js';
import { isNotFound, type KubeClients } from '../kube/client.js';
import { accessGrants, approvalRequests, getCustom, patchStatus, sessionPolicies, setFinalizer } from '../kube/resources.js';
import { recordAfter, type AccessLedger } from './access-ledger.js';

export interface ApprovalRequestReconcilerOptions {
  clients: KubeClients;
  events: EventRecorder;
  /** Where each reconcile writes what the request's lifecycle added (access-ledger.ts); none: no ledger. */
  ledger?: Pick<AccessLedger, 'recordApproval' | 'keeps' | 'approvalPolicy'>;
  now?: () => Date;
}

/** Held on an ApprovalRequest whose policy keeps a ledger until its "deleted" entry is written. */
const ledgerFinalizer = 'kubegate.dev/ledger';

export class ApprovalRequestReconciler implements Reconciler {
  constructor(private readonly options: ApprovalRequestReconcilerOptions) {}

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { clients } = this.options;
    let request: ApprovalRequest;
    try {
      request = await getCustom<ApprovalRequest>(clients, approvalRequests, key.namespace!, key.name);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const { ledger } = this.options;
    if (request.metadata.deletionTimestamp) {
      await ledger?.recordApproval(request); // a store that is down keeps the finalizer until it is back
      await setFinalizer(clients, approvalRequests, request, ledgerFinalizer, false);
      return;
    }
    if (ledger?.keeps(key.namespace!, ledger.approvalPolicy(request))) await setFinalizer(clients, approvalRequests, request, ledgerFinalizer, true);
    const result = await this.decide(request);
    // the state this reconcile left: its status write is on `request`
    return recordAfter(request, () => ledger?.recordApproval(request), result, this.options.events);
  }

  private async decide(request: ApprovalRequest): Promise<ReconcileResult | void> {
    const { clients } = this.options;
    const key = { namespace: request.metadata.namespace!, name: request.metadata.name! };
    const previous = request.status?.phase;
    if (previous === 'Approved' || previous === 'Denied' || previous === 'Expired') return; // decided once, for good

    const policyName = request.spec.policyRef?.name ?? '';
    let policy: SessionPolicy | undefined;
    try {
      if (policyName) policy = await getCustom<SessionPolicy>(clients, sessionPolicies, key.namespace!, policyName);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const now = this.options.now?.() ?? new Date();
    const outcome = policy && !newerThan(policy, request)
      ? evaluateApproval(request.spec as ApprovalInput, { minApprovals: policy.spec.approvers?.minApprovals ?? 1, appliers: policy.spec.gitops?.appliers ?? [] }, now)
      : policyNotFound(policyName, request.spec.decisions?.length ?? 0);
    const conditions = setCondition(
      request.status?.conditions as Condition[] | undefined,
      {
        type: 'Decided',
        status: outcome.phase === 'Pending' ? 'False' : 'True',
        reason: outcome.reason,
        message: outcome.message,
        observedGeneration: request.metadata!.generation,
      },
      now,
    );
    const status = {
      phase: outcome.phase,
      approvals: outcome.approvals,
      conditions,
      observedGeneration: request.metadata!.generation,
      ...(outcome.phase !== 'Pending' ? { decidedAt: now.toISOString() } : {}),
    };
    await patchStatus(clients, approvalRequests, key.namespace!, key.name, status);
    request.status = { ...request.status, ...status };
    if (outcome.phase !== (previous ?? 'Pending')) {
      this.options.events.record(request, outcome.phase === 'Approved' ? 'Normal' : 'Warning', outcome.reason, outcome.message);
    }
    if (outcome.phase !== 'Pending') return;
    const notify = policy?.spec.approvers?.notify;
    if (notify && !conditions.some((condition) => condition.type === 'Notified' && condition.status === 'True')) await this.notify(request, notify, conditions, now);
    return { requeueAfterMs: Math.max(0, Date.parse(request.spec.expiresAt) - now.getTime()) };
  }

  /** Sends the approvers' message and records `Notified`; a failure is thrown (after it is recorded) for a retry with backoff. */
  private async notify(request: ApprovalRequest, notify: SessionPolicyApproversNotify, conditions: Condition[], now: Date): Promise<void> {
    const { clients } = this.options;
    const namespace = request.metadata!.namespace!;
    let failure: NotifyError | undefined;
    try {
      const grantName = request.spec.request ? undefined : request.spec.target?.name;
      const grant = grantName ? await getCustom<AccessGrant>(clients, accessGrants, namespace, grantName).catch(() => undefined) : undefined;
      await postNotification(await webhookUrl(clients, namespace, notify), notificationMessage(request, grant, notify.consoleUrl));
    } catch (error) {
      if (!(error instanceof NotifyError)) throw error;
      failure = error;
    }
    const notified: Condition = failure
      ? { type: 'Notified', status: 'False', reason: failure.reason, message: failure.message, observedGeneration: request.metadata!.generation }
      : { type: 'Notified', status: 'True', reason: 'Delivered', message: "the approvers' webhook took the message", observedGeneration: request.metadata!.generation };
    await patchStatus(clients, approvalRequests, namespace, request.metadata!.name!, { conditions: setCondition(conditions, notified, now) });
    if (failure) throw new Error(`notifying the approvers of ApprovalRequest ${namespace}/${request.metadata!.name}: ${failure.message}`);
  }
}

/** Whether `policy` was created after `request` (creation times have one-second resolution: same second is not after). */
function newerThan(policy: SessionPolicy, request: ApprovalRequest): boolean {
  return Date.parse(String(policy.metadata?.creationTimestamp)) > Date.parse(String(request.metadata?.creationTimestamp));
}

function policyNotFound(name: string, decisions: number): ApprovalOutcome {
  return { phase: 'Denied', approvals: 0, reason: 'PolicyNotFound', message: `SessionPolicy ${name} did not exist when this request was opened: none of its ${decisions} decisions can count` };
}
