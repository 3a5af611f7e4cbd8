/**
 * `kubegate operator`: wires the three reconcilers to informers and work queues under one manager, with
 * Lease leader election, health and metrics, the binding sweep, the token signing keys and the
 * admission policies. Only the leader writes; a stand-by keeps its caches warm and takes over within
 * the lease duration.
 */
import { hostname } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AccessGrant, ApprovalRequest, SessionPolicy } from '../api/index.js';
import { kubeClients, type KubeClients } from '../kube/client.js';
import type { KubeEndpoint, RawKubeClient } from '../kube/raw-client.js';
import { accessGrants, approvalRequests, sessionPolicies, type CustomResource } from '../kube/resources.js';
import type { SigningKey } from '../token/jit-token.js';
import { Gauge, type Registry } from 'prom-client';
import { Manager, type LeaderTask } from '../runtime/manager.js';
import { keyString, type ObjectKey } from '../runtime/reconciler.js';
import type { Informer } from '../runtime/informer.js';
import { AccessGrantReconciler } from './accessgrant-reconciler.js';
import { ApprovalRequestReconciler } from './approvalrequest-reconciler.js';
import { SessionPolicyReconciler } from './sessionpolicy-reconciler.js';
import { ensureAdmissionPolicies } from './admission.js';
import { scheduleSweep } from './binding-sweep.js';
import { resourceCatalog } from './discovery.js';
import { eventRecorder, type EventRecorder } from './events.js';
import { ensureSigningKeys } from './signing-keys.js';
import { policyLabel, policyRefAnnotation } from '../api/names.js';
import { UnchangedApply } from './unchanged-apply.js';
import { childFields, withoutManagedFields } from './cached-fields.js';
import { AccessLedger } from './access-ledger.js';
import { recordingKeyReader } from './recording-keys.js';

export interface OperatorOptions {
  kubeconfig: KubeEndpoint;
  /** Where the operator keeps its Lease, the signing keys and the kubeconfigs of User and Group subjects. */
  namespace: string;
  leaderElect: boolean;
  healthListen: { host: string; port: number };
  lease: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  gatewayImage: string;
  /** false: gateway Deployments get no replicas, their gateways run elsewhere (`kubegate dev`: local processes). */
  gatewayPods?: boolean;
  sweepCron: string;
  workers: number;
  /** Whether to write the access ledger (access-ledger.ts) to each policy's store. */
  ledger: boolean;
  logger: Logger;
  identity?: string;
}

function path(resource: CustomResource): string {
  return `/apis/${resource.group}/${resource.version}/${resource.plural}`;
}

const keyOf = (object: k8s.KubernetesObject): ObjectKey => ({ namespace: object.metadata?.namespace, name: object.metadata!.name! });

/** The collections of a gateway's children other than its TLS Secret, by kind. */
const gatewayChildPaths = {
  ServiceAccount: '/api/v1/serviceaccounts',
  ConfigMap: '/api/v1/configmaps',
  Service: '/api/v1/services',
  Deployment: '/apis/apps/v1/deployments',
  Role: '/apis/rbac.authorization.k8s.io/v1/roles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
};

/** The policy a gateway child belongs to: namespaced ones by label, cluster-scoped ones by annotation. */
function policyOfChild(child: k8s.KubernetesObject): ObjectKey[] {
  if (child.metadata?.namespace) return [{ namespace: child.metadata.namespace, name: child.metadata.labels![policyLabel]! }];
  const [namespace, name] = (child.metadata?.annotations?.[policyRefAnnotation] ?? '').split('/');
  return namespace && name ? [{ namespace, name }] : [];
}

/** An update that changes what the object asks for (spec) or its deletion — not a status write. */
const specOrDeletionChanged = (object: k8s.KubernetesObject, old: k8s.KubernetesObject) =>
  object.metadata?.generation !== old.metadata?.generation || object.metadata?.deletionTimestamp !== old.metadata?.deletionTimestamp;

/**
 * The token signing keys, read (or created) once and shared by every reconcile; a failed read is
 * retried on the next call. `rotate` reads them again now (the leader's hourly check, which adds a new
 * key when the newest is due and drops keys no live token needs).
 */
function signingKeySource(clients: KubeClients, namespace: string): { get: () => Promise<SigningKey[]>; rotate: () => Promise<SigningKey[]> } {
  let keys: Promise<SigningKey[]> | undefined;
  const get = () =>
    (keys ??= ensureSigningKeys(clients, { namespace }).catch((error) => {
      keys = undefined;
      throw error;
    }));
  return {
    get,
    rotate: () => {
      keys = undefined;
      return get();
    },
  };
}

/** The API server's resources (to validate policies against), looked up again at most once a minute. */
function cachedResourceCatalog(raw: RawKubeClient, maxAgeMs = 60_000): () => Promise<Set<string>> {
  let catalog: { at: number; value: Promise<Set<string>> } | undefined;
  return () => {
    if (!catalog || Date.now() - catalog.at > maxAgeMs) catalog = { at: Date.now(), value: resourceCatalog(raw) };
    return catalog.value;
  };
}

function newManager(options: OperatorOptions, identity: string): Manager {
  const { lease } = options;
  return new Manager({
    kubeconfig: options.kubeconfig,
    logger: options.logger,
    healthPort: options.healthListen.port,
    healthHost: options.healthListen.host,
    ...(options.leaderElect
      ? {
          leaderElection: {
            namespace: options.namespace,
            name: 'kubegate-operator',
            identity,
            leaseDurationMs: lease.durationMs,
            renewDeadlineMs: lease.renewDeadlineMs,
            retryPeriodMs: lease.retryPeriodMs,
          },
        }
      : {}),
  });
}

/** The operator's view of the cluster: its three kinds, and the gateways' children. */
interface OperatorInformers {
  grants: Informer<AccessGrant>;
  policies: Informer<SessionPolicy>;
  requests: Informer<ApprovalRequest>;
  /** The gateways' TLS Secrets: they hold the CA every kubeconfig pins. */
  gatewayTls: Informer<k8s.V1Secret>;
  /** Every kind of gateway child (the TLS Secrets included), by kind. */
  children: Map<string, Informer>;
}

/** How often the operator's own kinds are delivered again to be re-checked (level-based). */
const informerResyncMs = 10 * 60_000;

function addInformers(manager: Manager): OperatorInformers {
  const resyncMs = informerResyncMs;
  const transform = withoutManagedFields;
  const grants = manager.addInformer<AccessGrant>({ path: path(accessGrants), resyncMs, transform });
  const policies = manager.addInformer<SessionPolicy>({ path: path(sessionPolicies), resyncMs, transform });
  const requests = manager.addInformer<ApprovalRequest>({ path: path(approvalRequests), resyncMs, transform });
  // the gateways' children, selected by the label each carries: all of them show the policy reconciler
  // what it need not apply again
  const gatewayTls = manager.addInformer<k8s.V1Secret>({ path: '/api/v1/secrets', labelSelector: policyLabel, transform: childFields });
  const children = new Map<string, Informer>([
    ['Secret', gatewayTls],
    ...Object.entries(gatewayChildPaths).map(([kind, path]) => [kind, manager.addInformer({ path, labelSelector: policyLabel, transform: childFields })] as const),
  ]);
  return { grants, policies, requests, gatewayTls, children };
}

function registerGrantPhaseGauge(registry: Registry, grants: Informer<AccessGrant>): void {
  new Gauge({
    name: 'kubegate_accessgrants',
    help: 'AccessGrants by phase, from the operator cache',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      this.reset();
      for (const grant of grants.list()) this.inc({ phase: grant.status?.phase ?? 'Pending' });
    },
  });
}

/** What the reconcilers share. */
interface ControllerParts {
  manager: Manager;
  informers: OperatorInformers;
  clients: KubeClients;
  events: EventRecorder;
  signingKeys: () => Promise<SigningKey[]>;
  workers: number;
  operatorNamespace: string;
  ledger?: AccessLedger;
}

function grantsOfPolicy(grants: Informer<AccessGrant>, namespace: string | undefined, policy: string): AccessGrant[] {
  return grants.list().filter((g) => g.metadata?.namespace === namespace && g.spec.policyRef.name === policy);
}

function addAccessGrantController({ manager, informers, clients, events, signingKeys, workers, operatorNamespace, ledger }: ControllerParts): void {
  const caches = { grants: informers.grants, policies: informers.policies, approvalRequests: informers.requests, gatewayTls: informers.gatewayTls };
  const grants = manager.addController({ name: 'accessgrant', workers, reconciler: new AccessGrantReconciler({ clients, caches, events, signingKeys, operatorNamespace, ledger }) });
  const grantKeysOfPolicy = (namespace: string | undefined, policy: string) => grantsOfPolicy(informers.grants, namespace, policy).map(keyOf);
  // a resync re-checks every grant (a few API calls each): spread over half the period, it never queues a
  // due expiry behind thousands of them
  const resyncSpreadMs = informerResyncMs / 2;
  grants.watch(informers.grants, (grant) => [keyOf(grant)], { updateMatters: specOrDeletionChanged, resyncSpreadMs });
  // grants wait for their policy's spec (maximum duration) and its gateway's CA (pinned in the kubeconfig)
  grants.watch(informers.policies, (policy) => grantKeysOfPolicy(policy.metadata?.namespace, policy.metadata!.name!), { updateMatters: specOrDeletionChanged, resyncSpreadMs });
  grants.watch(informers.gatewayTls, (secret) => grantKeysOfPolicy(secret.metadata?.namespace, secret.metadata!.labels![policyLabel]!), {
    updateMatters: (secret, old) => secret.data?.['ca.crt'] !== old.data?.['ca.crt'],
  });
  grants.watch(
    informers.requests,
    (request) => (request.spec.target?.kind === 'AccessGrant' ? [{ namespace: request.metadata?.namespace, name: request.spec.target.name }] : []),
    { updateMatters: (request, old) => request.status?.phase !== old.status?.phase },
  );
}

function addSessionPolicyController(
  { manager, informers, clients, events, signingKeys, workers }: ControllerParts,
  options: { children: UnchangedApply; resourceCatalog: () => Promise<Set<string>>; gatewayImage: string; gatewayPods: boolean | undefined },
): void {
  const { children } = options;
  const policies = manager.addController({
    name: 'sessionpolicy',
    workers,
    reconciler: new SessionPolicyReconciler({
      clients,
      children,
      events,
      signingKeys,
      resourceCatalog: options.resourceCatalog,
      grantsOf: (namespace, policy) => grantsOfPolicy(informers.grants, namespace, policy),
      gatewayImage: options.gatewayImage,
      gatewayPods: options.gatewayPods,
    }),
  });
  policies.watch(informers.policies, (policy) => [keyOf(policy)], { updateMatters: specOrDeletionChanged });
  // a policy's impersonation RBAC follows the set of its Active grants; a burst of grant changes (a
  // thousand bots starting at once) is folded into one reconcile per 200 ms
  policies.watch(informers.grants, (grant) => [{ namespace: grant.metadata?.namespace, name: grant.spec.policyRef.name }], {
    updateMatters: (grant, old) => grant.status?.phase !== old.status?.phase || !!grant.metadata?.deletionTimestamp !== !!old.metadata?.deletionTimestamp,
    delayMs: 200,
  });
  // a child changed or deleted by anyone else is put back; status-only updates (generation unchanged) and
  // the events of our own applies are not worth a reconcile
  for (const informer of informers.children.values()) {
    policies.watch(informer, policyOfChild, {
      updateMatters: (child, old) => !children.isOwnLastApply(child) && (child.metadata?.generation === undefined || specOrDeletionChanged(child, old)),
    });
  }
}

function addApprovalRequestController({ manager, informers, clients, events, workers, ledger }: ControllerParts): void {
  const requests = manager.addController({ name: 'approvalrequest', workers, reconciler: new ApprovalRequestReconciler({ clients, events, ledger }) });
  requests.watch(informers.requests, (request) => [keyOf(request)], { updateMatters: specOrDeletionChanged });
  requests.watch(
    informers.policies,
    (policy) => informers.requests.list().filter((r) => r.metadata?.namespace === policy.metadata?.namespace && r.spec.policyRef?.name === policy.metadata?.name).map(keyOf),
    { updateMatters: specOrDeletionChanged },
  );
}

/** What only the leader does besides reconciling: admission policies, signing keys and their hourly rotation, the binding sweep. */
function leaderTasks(options: { clients: KubeClients; logger: Logger; signingKeys: ReturnType<typeof signingKeySource>; sweepCron: string }): LeaderTask {
  const { clients, logger, signingKeys } = options;
  return async (leading) => {
    logger.info({ applied: await ensureAdmissionPolicies(clients) }, 'admission policies in place');
    await signingKeys.get();
    // leadership may have ended, or a shutdown begun, during those writes: an abort listener added now
    // would never fire, and the sweep's timer would keep a stopping process alive
    if (leading.aborted) return;
    const rotation = setInterval(() => void signingKeys.rotate().catch((error) => logger.error({ err: error }, 'token key rotation failed')), 3600_000);
    const sweep = scheduleSweep({
      clients,
      cronTime: options.sweepCron,
      onResult: (removed) => removed.length > 0 && logger.warn({ removed }, 'safety sweep removed bindings of grants that are not active'),
      onError: (error) => logger.error({ err: error }, 'safety sweep failed'),
    });
    leading.addEventListener('abort', () => {
      clearInterval(rotation);
      void sweep.stop();
    });
  };
}

export async function runOperator(options: OperatorOptions, signal: AbortSignal): Promise<void> {
  const { kubeconfig, logger } = options;
  const clients = kubeClients(kubeconfig);
  const identity = options.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const signingKeys = signingKeySource(clients, options.namespace);
  const manager = newManager(options, identity);
  const events = eventRecorder({ clients, instance: identity, registry: manager.metrics.registry, log: (message, error) => logger.warn({ err: error }, message) });
  const informers = addInformers(manager);
  registerGrantPhaseGauge(manager.metrics.registry, informers.grants);

  const cached = <T extends k8s.KubernetesObject>(informer: Informer<T>) => (namespace: string, name: string) => informer.get(keyString({ namespace, name }));
  const ledger = options.ledger ? new AccessLedger({ policy: cached(informers.policies), grant: cached(informers.grants), keys: recordingKeyReader(clients) }) : undefined;
  const parts: ControllerParts = { manager, informers, clients, events, signingKeys: signingKeys.get, workers: options.workers, operatorNamespace: options.namespace, ...(ledger ? { ledger } : {}) };
  addAccessGrantController(parts);
  const children = new UnchangedApply(clients, (kind) => informers.children.get(kind));
  addSessionPolicyController(parts, { children, resourceCatalog: cachedResourceCatalog(clients.raw), gatewayImage: options.gatewayImage, gatewayPods: options.gatewayPods });
  addApprovalRequestController(parts);
  manager.onLeading(leaderTasks({ clients, logger, signingKeys, sweepCron: options.sweepCron }));
  await manager.start(signal);
}
