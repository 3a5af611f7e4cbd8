/**
 * Server-side apply that skips what it would not change, for children the operator watches.
 *
 * It remembers, per object, a digest of what it last applied and the resourceVersion the API server
 * answered. An object whose desired state has that digest and whose informer copy still carries that
 * resourceVersion is exactly as we left it — a no-op apply keeps the version, anyone else's write bumps
 * it — so applying it again would change nothing and is skipped. Anything else is applied: a changed
 * desired state, a changed or deleted object, an informer copy not seen yet, a kind without informer.
 * After a restart the memory is empty and the first reconcile applies everything once.
 *
 * The informer events of our own applies need no reconcile: `isOwnLastApply` tells them apart, for the
 * controller's predicates.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { apply, type KubeClients } from '../kube/client.js';
import type { Informer } from '../runtime/informer.js';
import { keyString } from '../runtime/reconciler.js';

/** The informer store holding objects of one kind, when the operator watches that kind. */
export type ChildStore = (kind: string) => Pick<Informer, 'get'> | undefined;

export class UnchangedApply {
  private readonly lastApplied = new Map<string, { digest: string; resourceVersion: string }>();

  constructor(
    private readonly clients: KubeClients,
    private readonly stores: ChildStore,
  ) {}

  /** Applies `object` unless it is as our last apply left it; says whether it wrote. */
  async apply(object: k8s.KubernetesObject): Promise<boolean> {
    const id = identity(object);
    const digest = createHash('sha256').update(JSON.stringify(object)).digest('hex');
    const last = this.lastApplied.get(id);
    const cached = this.stores(object.kind!)?.get(keyString({ namespace: object.metadata?.namespace, name: object.metadata!.name! }));
    if (last && last.digest === digest && cached?.metadata?.resourceVersion === last.resourceVersion) return false;
    const applied = await apply(this.clients, object);
    this.lastApplied.set(id, { digest, resourceVersion: applied.metadata!.resourceVersion! });
    return true;
  }

  /** True when `object`, as an informer delivers it, is the version our last apply of it left. */
  isOwnLastApply(object: k8s.KubernetesObject): boolean {
    return this.lastApplied.get(identity(object))?.resourceVersion === object.metadata?.resourceVersion;
  }
}

function identity(object: k8s.KubernetesObject): string {
  return `${object.kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name}`;
}
