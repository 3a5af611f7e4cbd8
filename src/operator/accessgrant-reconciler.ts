/**
 * AccessGrant: Pending → Active → Expired | Revoked, or Pending → Denied.
 *
 * Level-based from the grant, its policy and its ApprovalRequest:
 * - deleted: bindings removed, the access ledger's last entries written, then the finalizer;
 * - revoked, expired or otherwise finished: no binding may exist (removed before the phase is written,
 *   so a terminal phase always means "no access");
 * - needs approval: an ApprovalRequest is opened and the grant waits; a merged pull request brought by a
 *   GitOps applier (admission-checked) is the approval;
 * - active: phase and expiry are written first, then the bindings and the JIT kubeconfig; the key is
 *   requeued for the exact expiry instant.
 * Transient failures throw (retried with backoff); a grant that cannot become Active until it changes
 * ends Denied with the reason.
 *
 * The grant, its policy, its ApprovalRequest and the gateway's TLS Secret are read from the informer
 * caches, which can lag the API server — behind our own last write, or behind someone else's change
 * whose event is still on its way (that event reconciles the grant again). So a stale read must at worst
 * cost one more reconcile: every write to the grant is conditional on the resourceVersion read (a stale
 * one fails with 409 and the key is retried), the ApprovalRequest is created under a fixed name (a
 * second create fails), and a Denied verdict — the one terminal decision drawn from the policy — is
 * re-checked against the policy read from the API server.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Informer } from '../runtime/informer.js';
import { terminalGrantPhases, type AccessGrant, type SessionPolicy, type ApprovalRequest } from '../api/index.js';
import { keyString, type ObjectKey, type ReconcileResult, type Reconciler } from '../runtime/reconciler.js';
import { parseDuration } from '../util/duration.js';
import { setCondition, type Condition } from './conditions.js';
import type { EventRecorder } from './events.js';
import { isNotFound, missingNamespace, notMissingNamespace, type KubeClients } from '../kube/client.js';
import { settleAll } from '../util/settle.js';
import { accessGrants, approvalRequests, getCustom, namespacedPath, ownerReference, patchStatus, sessionPolicies, setFinalizer } from '../kube/resources.js';
import { applyBindings, bindingRef, deleteGrantBindings, desiredBindings, type BindingRef, type GrantIdentity } from './grant-bindings.js';
import { deleteKubeconfigSecret, ensureKubeconfigSecret } from './grant-kubeconfig.js';
import { grantLabel, kubeconfigLocation } from '../api/names.js';
import { grantApprovalParties } from '../api/identity.js';
import type { SigningKey } from '../token/jit-token.js';
import { gatewayEndpoint } from './gateway-children.js';
import { tlsSecretName } from '../api/names.js';
import { recordAfter, type AccessLedger } from './access-ledger.js';

const grantFinalizer = 'kubegate.dev/bindings';

/** The informer stores the reconciler reads from (objects in them are shared: never modified). */
export interface AccessGrantCaches {
  grants: Pick<Informer<AccessGrant>, 'get'>;
  policies: Pick<Informer<SessionPolicy>, 'get'>;
  approvalRequests: Pick<Informer<ApprovalRequest>, 'get'>;
  /** The gateways' TLS Secrets (labelled `kubegate.dev/policy`). */
  gatewayTls: Pick<Informer<k8s.V1Secret>, 'get'>;
}

export interface AccessGrantReconcilerOptions {
  clients: KubeClients;
  caches: AccessGrantCaches;
  events: EventRecorder;
  signingKeys: () => Promise<SigningKey[]>;
  /** The operator's namespace, where the kubeconfigs of User and Group subjects are kept (`kubeconfigLocation`). */
  operatorNamespace: string;
  /** How long an ApprovalRequest for a grant stays open. */
  approvalTtlMs?: number;
  /** Where each reconcile writes what the grant's lifecycle added (access-ledger.ts); none: no ledger. */
  ledger?: Pick<AccessLedger, 'recordGrant'>;
  now?: () => Date;
}

type Phase = NonNullable<NonNullable<AccessGrant['status']>['phase']>;

export class AccessGrantReconciler implements Reconciler {
  private readonly clients: KubeClients;
  private readonly now: () => Date;

  constructor(private readonly options: AccessGrantReconcilerOptions) {
    this.clients = options.clients;
    this.now = options.now ?? (() => new Date());
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const cached = this.options.caches.grants.get(keyString(key));
    if (!cached) return; // gone (the finalizer made sure its access went first), or not seen yet: its add event reconciles it
    const grant = structuredClone(cached);
    const identity: GrantIdentity = { namespace: key.namespace!, name: key.name, uid: grant.metadata!.uid! };
    if (grant.metadata?.deletionTimestamp) {
      await this.removeAccess(identity, grant);
      await this.options.ledger?.recordGrant(grant); // a store that is down keeps the finalizer until it is back
      await setFinalizer(this.clients, accessGrants, grant, grantFinalizer, false);
      return;
    }
    await setFinalizer(this.clients, accessGrants, grant, grantFinalizer, true);
    const result = await this.advance(grant, identity);
    // the state this reconcile left: its writes are on `grant`
    return recordAfter(grant, () => this.options.ledger?.recordGrant(grant), result, this.options.events);
  }

  private async advance(grant: AccessGrant, identity: GrantIdentity): Promise<ReconcileResult | void> {
    const phase = grant.status?.phase;
    if (grant.spec.revoked && phase !== 'Revoked') return this.finish(grant, identity, 'Revoked', 'Revoked', 'spec.revoked is true');
    if (phase && terminalGrantPhases.includes(phase)) {
      await this.removeAccess(identity, grant); // level-based: a finished grant holds nothing, whatever appeared since
      return;
    }

    const requested = this.requestedDuration(grant);
    const exceeds = (policy: SessionPolicy) => requested !== undefined && requested > parseDuration(policy.spec.grants?.maxDuration ?? '8h');
    let policy = this.options.caches.policies.get(keyString({ namespace: identity.namespace, name: grant.spec.policyRef.name }));
    // the cached policy may predate a raise of its maximum, and Denied is for good: ask the API server
    if (policy && exceeds(policy)) policy = await this.readPolicy(identity.namespace, grant.spec.policyRef.name);
    if (!policy) {
      await this.writeStatus(grant, { phase: 'Pending' }, { type: 'Ready', status: 'False', reason: 'PolicyNotFound', message: `SessionPolicy ${grant.spec.policyRef.name} does not exist in ${identity.namespace}` });
      return; // the policy's arrival re-enqueues this grant
    }
    if (exceeds(policy)) {
      return this.finish(grant, identity, 'Denied', 'DurationExceedsPolicy', `requested ${grant.spec.duration} exceeds the policy's maximum of ${policy.spec.grants?.maxDuration ?? '8h'}`);
    }
    const now = this.now();
    if (grant.spec.expiresAt && Date.parse(grant.spec.expiresAt) <= now.getTime()) {
      return this.finish(grant, identity, 'Expired', 'Expired', `expired at ${grant.spec.expiresAt}`);
    }

    const activating = phase !== 'Active';
    if (activating) {
      const approval = await this.approvalState(grant, identity, policy, now);
      if (approval.state === 'waiting') {
        await this.writeStatus(grant, { phase: 'Pending', approvalRequest: approval.request }, { type: 'Approved', status: 'Unknown', reason: 'AwaitingApproval', message: approval.message });
        return;
      }
      if (approval.state === 'refused') return this.finish(grant, identity, 'Denied', approval.reason, approval.message);
      // One write marks the grant Active with the bindings it is about to get: Active is on record before
      // any binding exists, which is what lets the safety sweep delete bindings of non-Active grants.
      const expiresAt = grant.spec.expiresAt ?? new Date(now.getTime() + requested!).toISOString();
      const bindings = desiredBindings(identity, grant.spec.access).map(bindingRef);
      await this.writeStatus(
        grant,
        { phase: 'Active', activatedAt: now.toISOString(), expiresAt, bindings, ...(approval.request ? { approvalRequest: approval.request } : {}) },
        { type: 'Approved', status: 'True', reason: approval.reason, message: approval.message },
        activeCondition(bindings.length, expiresAt),
      );
      this.options.events.record(grant, 'Normal', 'Activated', `active until ${expiresAt}: ${approval.message}`);
    }

    const expiresAt = Date.parse(grant.status!.expiresAt!);
    if (expiresAt <= this.now().getTime()) return this.finish(grant, identity, 'Expired', 'Expired', `expired at ${grant.status!.expiresAt}`);
    // bindings and kubeconfig at once: neither waits for the other, and a reconcile is that much shorter.
    // A grant activated just now cannot have a kubeconfig for its new expiry yet: no need to read one.
    let bindings: BindingRef[];
    try {
      [bindings] = await settleAll<[BindingRef[], void]>(
        [applyBindings(this.clients, identity, grant.spec.access, { fresh: activating }), this.ensureKubeconfig(grant, identity, policy, new Date(expiresAt), activating)],
        notMissingNamespace,
      );
    } catch (error) {
      const namespace = missingNamespace(error);
      if (namespace === undefined) throw error;
      return this.awaitNamespace(grant, namespace, expiresAt);
    }
    const ready = activeCondition(bindings.length, grant.status!.expiresAt!);
    const current = grant.status?.conditions?.find((c) => c.type === 'Ready');
    const unchanged = current?.status === ready.status && current.message === ready.message && JSON.stringify(grant.status?.bindings) === JSON.stringify(bindings);
    if (!unchanged) await this.writeStatus(grant, { bindings }, ready);
    // at least 1 ms: an expiry that passed during this reconcile is still a requeue (0 would be none)
    return { requeueAfterMs: Math.max(1, expiresAt - this.now().getTime()) };
  }

  /**
   * An access entry names a namespace that does not exist (yet, or any more): said in Ready, and tried
   * again every `namespaceRetryMs` — not with the growing backoff of an error, which could hold the key
   * past the grant's expiry (its bindings elsewhere would outlive it until the retry).
   */
  private async awaitNamespace(grant: AccessGrant, namespace: string, expiresAt: number): Promise<ReconcileResult> {
    const message = `namespace ${namespace} does not exist; the grant's bindings there are made once it does`;
    const current = grant.status?.conditions?.find((c) => c.type === 'Ready');
    if (current?.reason !== 'NamespaceNotFound' || current.message !== message) await this.writeStatus(grant, {}, { type: 'Ready', status: 'False', reason: 'NamespaceNotFound', message });
    const untilExpiry = expiresAt - this.now().getTime();
    // many grants naming missing namespaces must not queue ahead of real expiries
    return untilExpiry <= namespaceRetryMs ? { requeueAfterMs: Math.max(1, untilExpiry) } : { requeueAfterMs: namespaceRetryMs, requeueAsDeadline: false };
  }

  private async readPolicy(namespace: string, name: string): Promise<SessionPolicy | undefined> {
    try {
      return await getCustom<SessionPolicy>(this.clients, sessionPolicies, namespace, name);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private requestedDuration(grant: AccessGrant): number | undefined {
    if (grant.spec.duration) return parseDuration(grant.spec.duration);
    if (grant.spec.expiresAt) return Date.parse(grant.spec.expiresAt) - Date.parse(grant.metadata!.creationTimestamp as unknown as string);
    return undefined;
  }

  private async approvalState(
    grant: AccessGrant,
    identity: GrantIdentity,
    policy: SessionPolicy,
    now: Date,
  ): Promise<{ state: 'approved' | 'waiting' | 'refused'; reason: string; message: string; request?: string }> {
    const pullRequest = grant.spec.approval?.pullRequest;
    if (pullRequest) {
      // Admission checks the grant's creator against the policy's appliers, but only against a policy that
      // exists then; the creator is spec.requestedBy (admission-checked, immutable, as is the approval), so
      // checking it here against the policy as it is now also covers a grant made before its policy.
      const appliers = policy.spec.gitops?.appliers ?? [];
      if (!appliers.includes(grant.spec.requestedBy ?? '')) {
        return { state: 'refused', reason: 'NotAGitOpsApplier', message: `a pull-request approval counts only on a grant created by a GitOps applier of policy ${policy.metadata!.name}; ${grant.spec.requestedBy} is not one` };
      }
      return { state: 'approved', reason: 'PullRequestMerged', message: `approved by merged pull request ${pullRequest.url ?? ''}`.trim() };
    }
    // a policy that requires approval for every grant overrides what the grant asks for
    if (!grant.spec.approval?.required && !policy.spec.grants?.approvalRequired) return { state: 'approved', reason: 'NotRequired', message: 'no approval required' };

    const name = `${identity.name}-${identity.uid.slice(0, 4)}`;
    let request = this.options.caches.approvalRequests.get(keyString({ namespace: identity.namespace, name }));
    if (!request) {
      // a cache behind our own create makes this create fail with AlreadyExists: retried, then found
      const ttl = this.options.approvalTtlMs ?? 3600_000;
      const deadline = Math.min(now.getTime() + ttl, grant.spec.expiresAt ? Date.parse(grant.spec.expiresAt) : Infinity);
      request = await this.clients.raw.create<ApprovalRequest>(namespacedPath(approvalRequests, identity.namespace), {
        apiVersion: 'kubegate.dev/v1alpha1',
        kind: 'ApprovalRequest',
        metadata: { name, namespace: identity.namespace, ownerReferences: [ownerReference(accessGrants, grant)], labels: { [grantLabel]: identity.uid } },
        spec: {
          policyRef: { name: policy.metadata!.name! },
          target: { kind: 'AccessGrant', name: identity.name },
          ...grantApprovalParties(grant.spec),
          reason: grant.spec.reason,
          expiresAt: new Date(deadline).toISOString(),
        },
      });
      this.options.events.record(grant, 'Normal', 'ApprovalRequested', `ApprovalRequest ${name} opened; approve with: kubegate approve ${name} -n ${identity.namespace} --reason "…"`);
    }
    switch (request.status?.phase) {
      case 'Approved':
        return { state: 'approved', reason: 'Approved', message: `ApprovalRequest ${name} approved`, request: name };
      case 'Denied':
        return { state: 'refused', reason: 'ApprovalDenied', message: `ApprovalRequest ${name} was denied`, request: name };
      case 'Expired':
        return { state: 'refused', reason: 'ApprovalExpired', message: `ApprovalRequest ${name} expired undecided`, request: name };
      default:
        return { state: 'waiting', reason: 'AwaitingApproval', message: `waiting for ApprovalRequest ${name}`, request: name };
    }
  }

  private async ensureKubeconfig(grant: AccessGrant, identity: GrantIdentity, policy: SessionPolicy, expiresAt: Date, knownOutdated: boolean): Promise<void> {
    const tls = this.options.caches.gatewayTls.get(keyString({ namespace: identity.namespace, name: tlsSecretName(policy.metadata!.name!) }));
    const gateway = gatewayEndpoint(policy, tls);
    if (!gateway) return; // the policy's gateway has no TLS yet; the TLS Secret's arrival re-enqueues this grant
    const location = kubeconfigLocation(grant, this.options.operatorNamespace);
    const outcome = await ensureKubeconfigSecret(this.clients, await this.options.signingKeys(), {
      location,
      grant: identity,
      subject: grant.spec.subject,
      policy: { namespace: identity.namespace, name: policy.metadata!.name! },
      gateway,
      expiresAt,
    }, { knownOutdated });
    // said once when the name is taken, and taken back once a later pass could write it
    const taken = grant.status?.conditions?.find((c) => c.type === 'KubeconfigReady')?.reason === 'SecretNotOwned';
    if (outcome === 'taken' && !taken) {
      const message = `Secret ${location.namespace}/${location.name} exists and is not this grant's: no kubeconfig is written over it; choose another spec.kubeconfigSecret`;
      await this.writeStatus(grant, {}, { type: 'KubeconfigReady', status: 'False', reason: 'SecretNotOwned', message });
      this.options.events.record(grant, 'Warning', 'SecretNotOwned', message);
    } else if (outcome !== 'taken' && taken) {
      await this.writeStatus(grant, {}, { type: 'KubeconfigReady', status: 'True', reason: 'Written', message: `kubeconfig in Secret ${location.namespace}/${location.name}` });
    }
  }

  /** Removes every binding and the kubeconfig Secret of a grant. */
  private async removeAccess(identity: GrantIdentity, grant: AccessGrant): Promise<void> {
    await deleteGrantBindings(this.clients, identity, grant.spec.access);
    await deleteKubeconfigSecret(this.clients, kubeconfigLocation(grant, this.options.operatorNamespace), identity.uid);
  }

  private async finish(grant: AccessGrant, identity: GrantIdentity, phase: Phase, reason: string, message: string): Promise<void> {
    await this.removeAccess(identity, grant);
    await this.writeStatus(grant, { phase, message, bindings: [] }, { type: 'Ready', status: 'False', reason, message });
    this.options.events.record(grant, phase === 'Expired' ? 'Normal' : 'Warning', reason, message);
  }

  private async writeStatus(grant: AccessGrant, fields: Partial<NonNullable<AccessGrant['status']>>, ...changed: Array<Omit<Condition, 'observedGeneration'>>): Promise<void> {
    let conditions: Condition[] | undefined = grant.status?.conditions;
    for (const condition of changed) conditions = setCondition(conditions, { ...condition, observedGeneration: grant.metadata!.generation }, this.now());
    const status = { ...fields, conditions, observedGeneration: grant.metadata!.generation };
    const resourceVersion = await patchStatus(this.clients, accessGrants, grant.metadata!.namespace!, grant.metadata!.name!, status, grant.metadata!.resourceVersion);
    grant.metadata!.resourceVersion = resourceVersion;
    grant.status = { ...grant.status, ...status } as AccessGrant['status'];
  }
}

/** How often a grant whose namespace is missing looks again (the operator does not watch namespaces). */
const namespaceRetryMs = 30_000;

function activeCondition(bindings: number, expiresAt: string): Omit<Condition, 'observedGeneration'> {
  return { type: 'Ready', status: 'True', reason: 'Active', message: `${bindings} binding(s) in place until ${expiresAt}` };
}
