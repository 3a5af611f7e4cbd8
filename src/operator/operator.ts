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
import { kubeClients } from '../kube/client.js';
import { accessGrants, approvalRequests, sessionPolicies, type CustomResource } from '../kube/resources.js';
import type { SigningKey } from '../token/jit-token.js';
import { Gauge } from 'prom-client';
import { Manager } from '../runtime/manager.js';
import type { ObjectKey } from '../runtime/reconciler.js';
import type { Informer } from '../runtime/informer.js';
import { AccessGrantReconciler } from './accessgrant-reconciler.js';
import { ApprovalRequestReconciler } from './approvalrequest-reconciler.js';
import { SessionPolicyReconciler } from './sessionpolicy-reconciler.js';
import { ensureAdmissionPolicies } from './admission.js';
import { scheduleSweep } from './binding-sweep.js';
import { resourceCatalog } from './discovery.js';
import { eventRecorder } from './events.js';
import { ensureSigningKeys } from './signing-keys.js';
import { policyLabel, policyRefAnnotation } from '../api/names.js';
import { UnchangedApply } from './unchanged-apply.js';

export interface OperatorOptions {
  kubeconfig: k8s.KubeConfig;
  /** Where the operator keeps its Lease and signing keys. */
  namespace: string;
  leaderElect: boolean;
  healthListen: { host: string; port: number };
  lease: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  gatewayImage: string;
  sweepCron: string;
  workers: number;
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

export async function runOperator(options: OperatorOptions, signal: AbortSignal): Promise<void> {
  const { kubeconfig, logger } = options;
  const clients = kubeClients(kubeconfig);
  const identity = options.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;

  let keys: Promise<SigningKey[]> | undefined;
  const signingKeys = () => (keys ??= ensureSigningKeys(clients, { namespace: options.namespace }).catch((error) => {
    keys = undefined;
    throw error;
  }));
  let catalog: { at: number; value: Promise<Set<string>> } | undefined;
  const catalogFn = () => {
    if (!catalog || Date.now() - catalog.at > 60_000) catalog = { at: Date.now(), value: resourceCatalog(kubeconfig) };
    return catalog.value;
  };

  const manager = new Manager({
    kubeconfig,
    logger,
    healthPort: options.healthListen.port,
    healthHost: options.healthListen.host,
    ...(options.leaderElect
      ? {
          leaderElection: {
            namespace: options.namespace,
            name: 'kubegate-operator',
            identity,
            leaseDurationMs: options.lease.durationMs,
            renewDeadlineMs: options.lease.renewDeadlineMs,
            retryPeriodMs: options.lease.retryPeriodMs,
          },
        }
      : {}),
  });
  const events = eventRecorder({ clients, instance: identity, registry: manager.metrics.registry, log: (message, error) => logger.warn({ err: error }, message) });
  const resync = 10 * 60_000;
  const grantInformer = manager.addInformer<AccessGrant>({ path: path(accessGrants), resyncMs: resync });
  const policyInformer = manager.addInformer<SessionPolicy>({ path: path(sessionPolicies), resyncMs: resync });
  const requestInformer = manager.addInformer<ApprovalRequest>({ path: path(approvalRequests), resyncMs: resync });
  // the gateways' children, selected by the label each carries: the TLS Secrets hold the CA every
  // kubeconfig pins, and all of them show the policy reconciler what it need not apply again
  const gatewayTlsInformer = manager.addInformer<k8s.V1Secret>({ path: '/api/v1/secrets', labelSelector: policyLabel });
  const childInformers = new Map<string, Informer>([
    ['Secret', gatewayTlsInformer],
    ...Object.entries(gatewayChildPaths).map(([kind, path]) => [kind, manager.addInformer({ path, labelSelector: policyLabel })] as const),
  ]);
  const children = new UnchangedApply(clients, (kind) => childInformers.get(kind));
  new Gauge({
    name: 'kubegate_accessgrants',
    help: 'AccessGrants by phase, from the operator cache',
    labelNames: ['phase'],
    registers: [manager.metrics.registry],
    collect() {
      this.reset();
      for (const grant of grantInformer.list()) this.inc({ phase: grant.status?.phase ?? 'Pending' });
    },
  });

  const caches = { grants: grantInformer, policies: policyInformer, approvalRequests: requestInformer, gatewayTls: gatewayTlsInformer };
  const grants = manager.addController({ name: 'accessgrant', workers: options.workers, reconciler: new AccessGrantReconciler({ clients, caches, events, signingKeys }) });
  const grantsOfPolicy = (namespace: string | undefined, policy: string) =>
    grantInformer.list().filter((g) => g.metadata?.namespace === namespace && g.spec.policyRef.name === policy).map(keyOf);
  grants.watch(grantInformer, (grant) => [keyOf(grant)], { updateMatters: specOrDeletionChanged });
  // grants wait for their policy's spec (maximum duration) and its gateway's CA (pinned in the kubeconfig)
  grants.watch(policyInformer, (policy) => grantsOfPolicy(policy.metadata?.namespace, policy.metadata!.name!), { updateMatters: specOrDeletionChanged });
  grants.watch(gatewayTlsInformer, (secret) => grantsOfPolicy(secret.metadata?.namespace, secret.metadata!.labels![policyLabel]!), {
    updateMatters: (secret, old) => secret.data?.['ca.crt'] !== old.data?.['ca.crt'],
  });
  grants.watch(
    requestInformer,
    (request) => (request.spec.target?.kind === 'AccessGrant' ? [{ namespace: request.metadata?.namespace, name: request.spec.target.name }] : []),
    { updateMatters: (request, old) => request.status?.phase !== old.status?.phase },
  );

  const policies = manager.addController({
    name: 'sessionpolicy',
    workers: options.workers,
    reconciler: new SessionPolicyReconciler({
      clients,
      children,
      events,
      signingKeys,
      resourceCatalog: catalogFn,
      grantsOf: (namespace, policy) => grantInformer.list().filter((g) => g.metadata?.namespace === namespace && g.spec.policyRef.name === policy),
      gatewayImage: options.gatewayImage,
    }),
  });
  policies.watch(policyInformer, (policy) => [keyOf(policy)], { updateMatters: specOrDeletionChanged });
  // a policy's impersonation RBAC follows the set of its Active grants; a burst of grant changes (a
  // thousand bots starting at once) is folded into one reconcile per 200 ms
  policies.watch(grantInformer, (grant) => [{ namespace: grant.metadata?.namespace, name: grant.spec.policyRef.name }], {
    updateMatters: (grant, old) => grant.status?.phase !== old.status?.phase || !!grant.metadata?.deletionTimestamp !== !!old.metadata?.deletionTimestamp,
    delayMs: 200,
  });
  // a child changed or deleted by anyone else is put back; status-only updates (generation unchanged) and
  // the events of our own applies are not worth a reconcile
  for (const informer of childInformers.values()) {
    policies.watch(informer, policyOfChild, {
      updateMatters: (child, old) => !children.isOwnLastApply(child) && (child.metadata?.generation === undefined || specOrDeletionChanged(child, old)),
    });
  }

  const requests = manager.addController({ name: 'approvalrequest', workers: options.workers, reconciler: new ApprovalRequestReconciler({ clients, events }) });
  requests.watch(requestInformer, (request) => [keyOf(request)], { updateMatters: specOrDeletionChanged });
  requests.watch(
    policyInformer,
    (policy) => requestInformer.list().filter((r) => r.metadata?.namespace === policy.metadata?.namespace && r.spec.policyRef?.name === policy.metadata?.name).map(keyOf),
    { updateMatters: specOrDeletionChanged },
  );

  manager.onLeading(async (leading) => {
    logger.info({ applied: await ensureAdmissionPolicies(clients) }, 'admission policies in place');
    await signingKeys();
    // leadership may have ended, or a shutdown begun, during those writes: an abort listener added now
    // would never fire, and the sweep's timer would keep a stopping process alive
    if (leading.aborted) return;
    const rotation = setInterval(() => {
      keys = undefined;
      void signingKeys().catch((error) => logger.error({ err: error }, 'token key rotation failed'));
    }, 3600_000);
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
  });
  await manager.start(signal);
}
