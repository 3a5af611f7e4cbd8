/** What every console handler works with: the services the console runs, and the call being answered. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionPolicy } from '../api/index.js';
import type { RecordingStore } from '../recording/store.js';
import type { Clock } from '../runtime/reconciler.js';
import type { Viewer, ViewerSession } from './auth.js';
import { forbidden } from './http.js';
import { AccessReviews, KubeApi, sessionsResource } from './kube-api.js';
import type { SessionIndexCache } from './session-index.js';
import type { GatewayEvents } from './live.js';

export interface ConsoleServices {
  store: RecordingStore;
  index: SessionIndexCache;
  kube: KubeApi;
  reviews: AccessReviews;
  gateways: GatewayEvents;
  /** The SessionPolicies (the console's own read, cached briefly): their namespaces hold kubegate's objects and sessions. */
  policies(): Promise<SessionPolicy[]>;
  now(): number;
  /** Timers of what runs on (a live page's feed is judged again on it). */
  clock: Clock;
}

export interface ApiCall {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  session: ViewerSession;
  viewer: Viewer;
  /** The parts of the path the route matched (decoded). */
  params: string[];
}

/** The namespaces that hold SessionPolicies. */
export async function policyNamespaces(services: ConsoleServices): Promise<string[]> {
  return [...new Set((await services.policies()).map((policy) => policy.metadata.namespace!))].sort();
}

/**
 * The namespaces in which the viewer may `verb` sessions.kubegate.dev: every one when RBAC allows it
 * cluster-wide, else those of the known policies (and recorded sessions) it allows. Refused (403) when
 * it allows none.
 */
export async function sessionScope(services: ConsoleServices, viewer: Viewer, verb: string): Promise<(namespace: string) => boolean> {
  if ((await services.reviews.check(viewer, { ...sessionsResource, verb })).allowed) return () => true;
  const namespaces = [...new Set([...services.index.policyNamespaces(), ...(await policyNamespaces(services))])];
  const answers = await Promise.all(namespaces.map((namespace) => services.reviews.check(viewer, { ...sessionsResource, verb, namespace })));
  const allowed = new Set(namespaces.filter((_, i) => answers[i]!.allowed));
  if (allowed.size === 0) throw forbidden(`${viewer.user} may not ${verb} sessions.kubegate.dev in any namespace`);
  return (namespace) => allowed.has(namespace);
}

/** Whether the viewer may `verb` sessions of one policy namespace. */
export async function maySessions(services: ConsoleServices, viewer: Viewer, verb: string, namespace: string): Promise<boolean> {
  return (await services.reviews.check(viewer, { ...sessionsResource, verb, namespace })).allowed;
}
