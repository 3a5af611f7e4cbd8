/**
 * SessionPolicy → the gateway that enforces it. Level-based from the policy and its Active grants:
 * validate (every problem into status and an Event; an invalid policy leaves the running gateway on its
 * last good version), compile, then apply the children — ServiceAccount (IRSA), TLS Secret, recording
 * signing keys (rotated) and their public keys, compiled
 * policy, RBAC, Service, Deployment (rolled when the compiled version changes) — and the impersonation
 * ClusterRoles (sharded by subject) for exactly the current grants. Namespaced children are owned by the
 * policy; the cluster-scoped ones are removed by its finalizer. Requeued twice a day to renew certificates.
 *
 * The policy is reconciled on every change to the set of its Active grants (batched), which in a burst of
 * thousands of grants is several times a second; each time only the impersonation shards of the grants
 * that changed do.
 * Children are therefore applied through `UnchangedApply`: one the operator's informers show exactly as
 * its last apply left it is not sent again, and a change anyone makes to a child reconciles the policy.
 */
import type * as k8s from '@kubernetes/client-node';
import type { AccessGrant, SessionPolicy } from '../api/index.js';
import { grantGroup, impersonatedUser } from '../api/identity.js';
import { compilePolicy, validatePolicy, type PolicySpecInput, type ResourceCatalog } from '../policy/compile.js';
import { publicKeySet, type SigningKey } from '../token/jit-token.js';
import type { ObjectKey, ReconcileResult, Reconciler } from '../runtime/reconciler.js';
import { setCondition, type Condition } from './conditions.js';
import type { EventRecorder } from './events.js';
import { deleteIfExists, isNotFound, readIfExists, type KubeClients } from '../kube/client.js';
import { getCustom, patchStatus, sessionPolicies, setFinalizer } from '../kube/resources.js';
import {
  desiredDeployment,
  desiredGatewayRole,
  desiredImpersonation,
  desiredPolicyConfigMap,
  desiredService,
  desiredServiceAccount,
  desiredTlsSecret,
} from './gateway-children.js';
import { gatewayName, tlsSecretName } from '../api/names.js';
import type { UnchangedApply } from './unchanged-apply.js';
import { ensureRecordingKeys } from './recording-keys.js';

const policyFinalizer = 'kubegate.dev/cluster-children';

export interface SessionPolicyReconcilerOptions {
  clients: KubeClients;
  /** Applies the children, skipping those the informers show as last applied. */
  children: UnchangedApply;
  events: EventRecorder;
  signingKeys: () => Promise<SigningKey[]>;
  resourceCatalog: () => Promise<ResourceCatalog>;
  /** The grants of one policy (from the operator's informer cache: a policy reconciles on every grant change). */
  grantsOf: (namespace: string, policyName: string) => AccessGrant[];
  gatewayImage: string;
  /** false: every gateway Deployment has no replicas (the gateways run elsewhere). */
  gatewayPods?: boolean;
  now?: () => Date;
}

export class SessionPolicyReconciler implements Reconciler {
  private readonly clients: KubeClients;

  constructor(private readonly options: SessionPolicyReconcilerOptions) {
    this.clients = options.clients;
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    let policy: SessionPolicy;
    try {
      policy = await getCustom<SessionPolicy>(this.clients, sessionPolicies, key.namespace!, key.name);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const ref = { namespace: key.namespace!, name: key.name };
    if (policy.metadata?.deletionTimestamp) {
      // bindings before roles: a binding never points at a role that is gone
      const impersonation = desiredImpersonation(policy, []);
      await Promise.all(impersonation.filter((child) => child.kind === 'ClusterRoleBinding').map((child) => deleteIfExists(this.clients, child)));
      await Promise.all(impersonation.filter((child) => child.kind === 'ClusterRole').map((child) => deleteIfExists(this.clients, child)));
      await setFinalizer(this.clients, sessionPolicies, policy, policyFinalizer, false);
      return;
    }
    await setFinalizer(this.clients, sessionPolicies, policy, policyFinalizer, true);

    const spec = policy.spec as PolicySpecInput;
    const problems = validatePolicy(spec, await this.options.resourceCatalog());
    if (problems.length > 0) {
      const message = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
      if (policy.status?.conditions?.find((c) => c.type === 'Ready')?.message !== message) {
        this.options.events.record(policy, 'Warning', 'InvalidPolicy', message);
      }
      await this.writeStatus(policy, { phase: 'Invalid' }, { type: 'Ready', status: 'False', reason: 'InvalidPolicy', message });
      return; // nothing to retry: the policy must change, and that change re-enqueues it
    }

    const compiled = compilePolicy(ref, spec);
    const jwks = await publicKeySet(await this.options.signingKeys());
    const existingTls = await readIfExists<k8s.V1Secret>(this.clients, { apiVersion: 'v1', kind: 'Secret', metadata: { name: tlsSecretName(ref.name), namespace: ref.namespace } });
    const tls = await desiredTlsSecret(policy, existingTls);
    const recordingKeys = await ensureRecordingKeys(this.clients, policy, this.options.now?.());
    const [role, roleBinding] = desiredGatewayRole(policy);
    const children: k8s.KubernetesObject[] = [
      desiredServiceAccount(policy),
      ...(tls ? [tls] : []),
      recordingKeys.configMap,
      desiredPolicyConfigMap(policy, compiled, jwks),
      role,
      roleBinding,
      desiredService(policy),
      desiredDeployment(policy, compiled, this.options.gatewayImage, { pods: this.options.gatewayPods }),
    ];
    for (const child of children) await this.options.children.apply(child);

    const grants = this.options.grantsOf(ref.namespace, ref.name).filter((grant) => grant.status?.phase === 'Active' && !grant.metadata?.deletionTimestamp);
    const identities = grants.map((grant) => ({ user: impersonatedUser(grant.spec.subject), group: grantGroup(ref.namespace, grant.metadata!.name!) }));
    // only the shards whose grants changed are written (the others are as our last apply left them)
    await Promise.all(desiredImpersonation(policy, identities).map((child) => this.options.children.apply(child)));

    if (policy.status?.compiledVersion !== compiled.version) {
      this.options.events.record(policy, 'Normal', 'Compiled', `policy version ${compiled.version}: ${compiled.rules.length} rule(s), default ${compiled.defaultAction}`);
    }
    await this.writeStatus(
      policy,
      { phase: 'Ready', compiledVersion: compiled.version, gatewayAddress: `https://${gatewayName(ref.name)}.${ref.namespace}.svc:443` },
      { type: 'Ready', status: 'True', reason: 'Compiled', message: `version ${compiled.version}; gateway serves ${grants.length} active grant(s)` },
    );
    return { requeueAfterMs: 12 * 3600 * 1000 };
  }

  private async writeStatus(policy: SessionPolicy, fields: Partial<NonNullable<SessionPolicy['status']>>, condition: Omit<Condition, 'observedGeneration'>): Promise<void> {
    const conditions = setCondition(policy.status?.conditions as Condition[] | undefined, { ...condition, observedGeneration: policy.metadata!.generation }, this.options.now?.());
    const status: Record<string, unknown> = { ...fields, conditions, observedGeneration: policy.metadata!.generation };
    const current = (policy.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).every(([field, value]) => JSON.stringify(current[field]) === JSON.stringify(value))) return;
    await patchStatus(this.clients, sessionPolicies, policy.metadata!.namespace!, policy.metadata!.name!, status);
  }
}
