/**
 * The operator's side of the access ledger: each AccessGrant's and ApprovalRequest's lifecycle written to
 * the store its SessionPolicy's gateway records to (`spec.gateway.storage`), under the object lock the
 * policy asks for (`spec.recording.retention`), as src/recording/ledger.ts lays it out.
 *
 * A policy without storage records to its gateway's local folder, which the operator cannot reach: its
 * grants and approvals have no ledger. The store is opened from the operator's environment (credentials
 * from the SDK's chain), with the policy's endpoint and region, once per distinct storage.
 */
import type { AccessGrant, ApprovalRequest, SessionPolicy, SessionPolicyGatewayStorage } from '../api/index.js';
import type { ReconcileResult } from '../runtime/reconciler.js';
import type { EventRecorder } from './events.js';
import { appendDue, dueEntries, type AppendOptions, type LedgerBinding, type LedgerFacts, type LedgerObject } from '../recording/ledger.js';
import { openStore } from '../recording/open-store.js';
import type { RecordingStore } from '../recording/store.js';
import { desiredBindings } from './grant-bindings.js';
import { approvalFacts, grantFacts } from './ledger-facts.js';

export interface AccessLedgerOptions {
  /** The SessionPolicy of that namespace and name, as the operator's cache holds it. */
  policy: (namespace: string, name: string) => SessionPolicy | undefined;
  /** The AccessGrant of that namespace and name (an ApprovalRequest without policyRef takes its grant's policy). */
  grant: (namespace: string, name: string) => AccessGrant | undefined;
  open?: (storage: SessionPolicyGatewayStorage) => RecordingStore;
  now?: () => Date;
}

/** How soon a reconcile whose ledger write failed is repeated (a deleted object's is retried with backoff instead). */
export const ledgerRetryMs = 30_000;

/**
 * Writes the ledger after a reconcile of an object that is not being deleted. A store that is down must
 * not hold up what the reconcile did for access (an expiry above all, which waits on `result`): the
 * failure is a Warning Event and a reconcile again within `ledgerRetryMs`, not an error with backoff.
 * The object's finalizer keeps whatever it has not written yet until it is deleted.
 */
export async function recordAfter(
  object: AccessGrant | ApprovalRequest,
  record: () => Promise<void> | undefined,
  result: ReconcileResult | void,
  events: EventRecorder,
): Promise<ReconcileResult | void> {
  try {
    await record();
    return result;
  } catch (error) {
    events.record(object, 'Warning', 'LedgerWriteFailed', (error as Error).message);
    return { requeueAfterMs: Math.min(result?.requeueAfterMs ?? ledgerRetryMs, ledgerRetryMs) };
  }
}

/** A store opened with the policy's endpoint and region over the operator's own environment. */
function openPolicyStore(storage: SessionPolicyGatewayStorage): RecordingStore {
  const env = { ...process.env, ...(storage.endpoint ? { AWS_ENDPOINT_URL_S3: storage.endpoint } : {}), ...(storage.region ? { AWS_REGION: storage.region } : {}) };
  return openStore(storage.url, { env });
}

/** The bindings an Active grant makes, as the ledger keeps them (what `replay --as-recorded` recreates). */
export function ledgerBindings(grant: AccessGrant): LedgerBinding[] {
  const identity = { namespace: grant.metadata.namespace!, name: grant.metadata.name!, uid: grant.metadata.uid! };
  return desiredBindings(identity, grant.spec.access).map((binding) => ({
    kind: binding.kind as LedgerBinding['kind'],
    ...(binding.metadata?.namespace ? { namespace: binding.metadata.namespace } : {}),
    name: binding.metadata!.name!,
    roleRef: { kind: binding.roleRef.kind as LedgerBinding['roleRef']['kind'], name: binding.roleRef.name },
    subjects: (binding.subjects ?? []).map((subject) => ({ kind: subject.kind, name: subject.name })),
  }));
}

export class AccessLedger {
  private readonly stores = new Map<string, RecordingStore>();
  /**
   * The entry ids each chain (by uid) is known to hold: a reconcile with nothing due then touches no
   * store. Only the leader writes, and entries are never removed, so what it saw written stays written.
   */
  private readonly known = new Map<string, Set<string>>();
  private readonly now: () => Date;

  constructor(private readonly options: AccessLedgerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Whether objects under this policy have a ledger (their finalizer then waits for it). */
  keeps(namespace: string, policyName: string | undefined): boolean {
    return this.target(namespace, policyName) !== undefined;
  }

  recordGrant(grant: AccessGrant): Promise<void> {
    return this.record(grant.spec.policyRef.name, grantFacts(grant, ledgerBindings(grant), this.now()));
  }

  recordApproval(request: ApprovalRequest): Promise<void> {
    return this.record(this.approvalPolicy(request), approvalFacts(request, this.now()));
  }

  /** The policy an ApprovalRequest is under: its own policyRef, else its grant's. */
  approvalPolicy(request: ApprovalRequest): string | undefined {
    const target = request.spec.target?.name;
    return request.spec.policyRef?.name ?? request.spec.request?.policy ?? (target ? this.options.grant(request.metadata.namespace!, target)?.spec.policyRef.name : undefined);
  }

  private async record(policyName: string | undefined, facts: LedgerFacts[]): Promise<void> {
    const object: LedgerObject = facts[0]!;
    const target = this.target(object.namespace, policyName);
    if (!target || dueEntries(facts, this.known.get(object.uid) ?? []).length === 0) return;
    try {
      const { ids } = await appendDue(target.store, object, facts, target.append);
      if (ids.includes('deleted')) this.known.delete(object.uid);
      else this.known.set(object.uid, new Set(ids));
    } catch (error) {
      throw new Error(`writing the access ledger of ${object.kind} ${object.namespace}/${object.name} to ${target.store.url}: ${(error as Error).message}`, { cause: error });
    }
  }

  private target(namespace: string, policyName: string | undefined): { store: RecordingStore; append: AppendOptions } | undefined {
    const policy = policyName ? this.options.policy(namespace, policyName) : undefined;
    const storage = policy?.spec.gateway?.storage;
    if (!policy || !storage?.url) return undefined;
    const id = JSON.stringify([storage.url, storage.endpoint, storage.region]);
    let store = this.stores.get(id);
    if (!store) this.stores.set(id, (store = (this.options.open ?? openPolicyStore)(storage)));
    const retention = policy.spec.recording?.retention;
    return { store, append: { now: this.now, ...(retention ? { retention: { mode: retention.mode === 'Compliance' ? 'COMPLIANCE' : 'GOVERNANCE', days: retention.days } } : {}) } };
  }
}
