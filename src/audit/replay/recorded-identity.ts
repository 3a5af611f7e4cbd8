/**
 * `replay --as-recorded`: each session's calls sent as the identity the gateway sent them as — the
 * impersonated user of the recorded subject and its grant's group (src/api/identity.ts), the Impersonate
 * headers the gateway sets (src/gateway/headers.ts) — with the grant's RBAC bindings recreated in the
 * target from the access ledger's `activated` entry, so a call the grant did not allow is refused again.
 * A grant the ledger has no activation of is replayed as admin, and the report says so.
 */
import { grantGroup, impersonatedUser, type GrantSubject } from '../../api/identity.js';
import type { LedgerBinding } from '../../recording/ledger.js';
import type { RecordingStore } from '../../recording/store.js';
import type { SessionIndex } from '../../recording/format.js';
import { recordedAccess } from '../ledger.js';
import type { ReplayTarget } from './engine.js';

export interface Impersonation {
  user: string;
  groups: string[];
}

/** How one grant's sessions are replayed. */
export interface ReplayIdentity {
  grant: string;
  as: 'recorded' | 'admin';
  user?: string;
  groups?: string[];
  /** The bindings recreated from the ledger, each with the target's answer. */
  bindings?: Array<{ path: string; status: number }>;
  /** Why the grant's sessions are replayed as admin. */
  reason?: string;
}

export interface IdentityPlan {
  /** Session id → whom its calls are sent as; a session not in it is replayed as admin. */
  sessions: Map<string, Impersonation>;
  identities: ReplayIdentity[];
}

type Session = { sessionId: string; summary: Pick<SessionIndex, 'grant' | 'subject' | 'startedAt'> };

export function impersonationHeaders(identity: Impersonation): Record<string, string | string[]> {
  return { 'Impersonate-User': identity.user, 'Impersonate-Group': identity.groups };
}

function bindingBody(binding: LedgerBinding): { collection: string; body: object } {
  const rbac = '/apis/rbac.authorization.k8s.io/v1';
  const subjects = binding.subjects.map((subject) => ({ ...subject, apiGroup: 'rbac.authorization.k8s.io' }));
  const metadata = { name: binding.name, ...(binding.namespace ? { namespace: binding.namespace } : {}), labels: { 'app.kubernetes.io/managed-by': 'kubegate-replay' } };
  const body = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: binding.kind, metadata, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...binding.roleRef } };
  return { collection: binding.namespace ? `${rbac}/namespaces/${binding.namespace}/rolebindings` : `${rbac}/clusterrolebindings`, body };
}

/** Makes the bindings (as the target's admin), and a binding's namespace where it is missing: the grant's bindings stood in namespaces that existed. */
async function recreateBindings(target: ReplayTarget, bindings: LedgerBinding[]): Promise<Array<{ path: string; status: number }>> {
  const made: Array<{ path: string; status: number }> = [];
  for (const binding of bindings) {
    if (binding.namespace && !(await target.getJson(`/api/v1/namespaces/${binding.namespace}`))) {
      const created = await target.request('POST', '/api/v1/namespaces', Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: binding.namespace } })), 'application/json');
      made.push({ path: `/api/v1/namespaces/${binding.namespace}`, status: created.status });
    }
    const { collection, body } = bindingBody(binding);
    const response = await target.request('POST', collection, Buffer.from(JSON.stringify(body)), 'application/json');
    made.push({ path: `${collection}/${binding.name}`, status: response.status });
  }
  return made;
}

/** Looks up each grant of the sessions in the ledger, recreates its bindings in the target, and says whom each session's calls go as. */
export async function planIdentities(store: RecordingStore, target: ReplayTarget, sessions: Session[]): Promise<IdentityPlan> {
  const plan: IdentityPlan = { sessions: new Map(), identities: [] };
  const byGrant = new Map<string, Session[]>();
  for (const session of sessions) byGrant.set(session.summary.grant.uid, [...(byGrant.get(session.summary.grant.uid) ?? []), session]);
  for (const grantSessions of byGrant.values()) {
    const { grant, startedAt } = grantSessions[0]!.summary;
    const name = `${grant.namespace}/${grant.name}`;
    const access = await recordedAccess(store, grant, startedAt);
    if ('missing' in access) {
      plan.identities.push({ grant: name, as: 'admin', reason: access.missing });
      continue;
    }
    if (access.problems.length > 0) {
      plan.identities.push({ grant: name, as: 'admin', reason: `the ledger chain of AccessGrant ${name} is broken: ${access.problems.join('; ')}` });
      continue;
    }
    const bindings = await recreateBindings(target, access.bindings);
    const groups = [grantGroup(grant.namespace, grant.name)];
    // one grant, one group; the user is each session's recorded subject (a person using a group's grant is themselves)
    for (const session of grantSessions) plan.sessions.set(session.sessionId, { user: impersonatedUser(session.summary.subject as GrantSubject), groups });
    plan.identities.push({ grant: name, as: 'recorded', user: impersonatedUser(grantSessions[0]!.summary.subject as GrantSubject), groups, bindings });
  }
  return plan;
}
