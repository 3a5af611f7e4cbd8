/**
 * Approvals and grants, read and written as the viewer: the console impersonates the signed-in
 * `{user, groups}` — never a name the page sends — so RBAC decides what they see, and the admission
 * policies decide, exactly as for `kubegate approve`, whether their decision counts (`by` must be the
 * authenticated user; the requester and the subject cannot decide; only the policy's approvers can).
 */
import type { AccessGrant, ApprovalRequest, SessionPolicy } from '../api/index.js';
import { mayDecide } from '../api/identity.js';
import { policyNamespaces, type ApiCall, type ConsoleServices } from './context.js';
import { badRequest, readJsonObject, sendJson, stringField } from './http.js';
import { KubeApiError } from './kube-api.js';
import type { Viewer } from './auth.js';

const base = '/apis/kubegate.dev/v1alpha1';
const pendingFirst = ['Pending', 'Approved', 'Denied', 'Expired'];

/**
 * The objects of one kind the viewer may list: cluster-wide when RBAC allows, else namespace by namespace
 * in the namespaces holding SessionPolicies (skipping those it refuses).
 */
export async function listAsViewer<T>(services: ConsoleServices, viewer: Viewer, plural: string): Promise<T[]> {
  try {
    return (await services.kube.call<{ items: T[] }>({ path: `${base}/${plural}`, as: viewer })).items;
  } catch (error) {
    if (!(error instanceof KubeApiError) || error.status !== 403) throw error;
  }
  const lists = await Promise.all(
    (await policyNamespaces(services)).map((namespace) =>
      services.kube.call<{ items: T[] }>({ path: `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}`, as: viewer }).then(
        (list) => list.items,
        (error: unknown) => {
          if (error instanceof KubeApiError && error.status === 403) return [];
          throw error;
        },
      ),
    ),
  );
  return lists.flat();
}

function isApprover(viewer: Viewer, policy: SessionPolicy | undefined): boolean {
  const approvers = policy?.spec.approvers;
  return (approvers?.users ?? []).includes(viewer.user) || viewer.groups.some((group) => (approvers?.groups ?? []).includes(group));
}

/** A safe path segment: a Kubernetes name (namespace or object). */
export function kubeName(text: string | undefined, what: string): string {
  if (!text || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(text)) throw badRequest(`"${text ?? ''}" is not a valid ${what} name`);
  return text;
}

/** `User/alice`, `ServiceAccount/ci/deployer`: as the sessions list names subjects. */
const subjectText = (subject: AccessGrant['spec']['subject']) => `${subject.kind}/${subject.namespace ? `${subject.namespace}/` : ''}${subject.name}`;

async function approvalItem(services: ConsoleServices, viewer: Viewer, request: ApprovalRequest, grants: AccessGrant[], policies: SessionPolicy[]) {
  const { spec, metadata } = request;
  const namespace = metadata.namespace!;
  const policyName = spec.policyRef?.name ?? spec.request?.policy ?? '';
  const policy = policies.find((candidate) => candidate.metadata.namespace === namespace && candidate.metadata.name === policyName);
  const grant = spec.target && grants.find((candidate) => candidate.metadata.namespace === namespace && candidate.metadata.name === spec.target!.name);
  const phase = request.status?.phase ?? 'Pending';
  const canDecide =
    phase === 'Pending' &&
    mayDecide(viewer.user, { requester: spec.requester, ...(spec.subject ? { subject: spec.subject } : {}) }) &&
    isApprover(viewer, policy) &&
    // per namespace, not per request: one cached answer serves the whole list
    (await services.reviews.check(viewer, { verb: 'patch', group: 'kubegate.dev', resource: 'approvalrequests', namespace })).allowed;
  return {
    namespace,
    name: metadata.name!,
    kind: spec.request ? 'request' : 'grant',
    phase,
    requester: spec.requester,
    ...(spec.subject ? { subject: spec.subject } : {}),
    policy: policyName,
    ...(spec.request?.rule ? { rule: spec.request.rule } : {}),
    reason: spec.reason,
    ...(spec.request ? { request: spec.request } : {}),
    ...(spec.target ? { grant: { name: spec.target.name, ...(grant ? { access: grant.spec.access, duration: grant.spec.duration ?? grant.spec.expiresAt, subject: subjectText(grant.spec.subject) } : {}) } } : {}),
    created: metadata.creationTimestamp,
    expires: spec.expiresAt,
    ...(request.status?.message ? { message: request.status.message } : {}),
    decisions: (spec.decisions ?? []).map((decision) => ({ decision: decision.decision, by: decision.by, reason: decision.reason, time: decision.at })),
    canDecide,
  };
}

export async function listApprovals(services: ConsoleServices, call: ApiCall): Promise<void> {
  const [requests, grants, policies] = await Promise.all([
    listAsViewer<ApprovalRequest>(services, call.viewer, 'approvalrequests'),
    listAsViewer<AccessGrant>(services, call.viewer, 'accessgrants'),
    services.policies(),
  ]);
  const items = await Promise.all(requests.map((request) => approvalItem(services, call.viewer, request, grants, policies)));
  items.sort((a, b) => pendingFirst.indexOf(a.phase) - pendingFirst.indexOf(b.phase) || String(b.created).localeCompare(String(a.created)));
  sendJson(call.response, 200, { items });
}

/** `POST /api/approvals/NS/NAME {decision, reason}`: the write `kubegate approve|deny` makes, as the viewer. */
export async function decideApproval(services: ConsoleServices, call: ApiCall): Promise<void> {
  const [namespace, name] = [kubeName(call.params[0], 'namespace'), kubeName(call.params[1], 'ApprovalRequest')];
  const body = await readJsonObject(call.request);
  const decision = stringField(body, 'decision', { required: true });
  if (decision !== 'Approve' && decision !== 'Deny') throw badRequest(`decision must be "Approve" or "Deny", got "${decision}"`);
  const reason = stringField(body, 'reason', { required: true });
  const path = `${base}/namespaces/${namespace}/approvalrequests/${name}`;
  const request = await services.kube.call<ApprovalRequest>({ path, as: call.viewer });
  // the decision is recorded as the signed-in viewer; appended only if nobody changed the request since it was read
  const entry = { decision, by: call.viewer.user, reason, at: new Date(services.now()).toISOString() };
  const patch = [
    { op: 'test', path: '/metadata/resourceVersion', value: request.metadata.resourceVersion },
    request.spec.decisions ? { op: 'add', path: '/spec/decisions/-', value: entry } : { op: 'add', path: '/spec/decisions', value: [entry] },
  ];
  const updated = await services.kube.call<ApprovalRequest>({ method: 'PATCH', path, body: patch, contentType: 'application/json-patch+json', as: call.viewer });
  const [grants, policies] = await Promise.all([listAsViewer<AccessGrant>(services, call.viewer, 'accessgrants'), services.policies()]);
  sendJson(call.response, 200, await approvalItem(services, call.viewer, updated, grants, policies));
}

function grantItem(grant: AccessGrant) {
  return {
    namespace: grant.metadata.namespace!,
    name: grant.metadata.name!,
    subject: subjectText(grant.spec.subject),
    phase: grant.status?.phase ?? 'Pending',
    ...(grant.status?.expiresAt ? { expires: grant.status.expiresAt } : {}),
    access: grant.spec.access,
    policy: grant.spec.policyRef.name,
    ...(grant.spec.requestedBy ? { requestedBy: grant.spec.requestedBy } : {}),
    reason: grant.spec.reason,
    revoked: grant.spec.revoked === true,
  };
}

export async function listGrants(services: ConsoleServices, call: ApiCall): Promise<void> {
  const phase = call.url.searchParams.get('phase');
  const grants = await listAsViewer<AccessGrant>(services, call.viewer, 'accessgrants');
  const items = grants.map(grantItem).filter((grant) => !phase || grant.phase === phase);
  items.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  sendJson(call.response, 200, { items });
}

/** Revokes a grant as the viewer (RBAC: patch accessgrants), keeping why on the object. */
export async function revokeGrant(services: ConsoleServices, viewer: Viewer, namespace: string, name: string, reason: string): Promise<AccessGrant> {
  return services.kube.call<AccessGrant>({
    method: 'PATCH',
    path: `${base}/namespaces/${kubeName(namespace, 'namespace')}/accessgrants/${kubeName(name, 'AccessGrant')}`,
    body: { metadata: { annotations: { 'kubegate.dev/revoked-reason': `${reason} (by ${viewer.user})`.slice(0, 1000) } }, spec: { revoked: true } },
    contentType: 'application/merge-patch+json',
    as: viewer,
  });
}

export async function revokeGrantCall(services: ConsoleServices, call: ApiCall): Promise<void> {
  const reason = stringField(await readJsonObject(call.request), 'reason', { required: true });
  const grant = await revokeGrant(services, call.viewer, call.params[0]!, call.params[1]!, reason);
  sendJson(call.response, 200, grantItem(grant));
}
