/**
 * The `escalation` class of a request, judged from the request alone (attributes and parsed body), so a
 * policy can send it to a human: `match: {escalation: true}`. An escalation is a request that could give
 * its caller — or anyone — more power than the grant's role: RBAC that binds or grants strong rights,
 * the `bind`/`escalate`/`impersonate` verbs, pods that reach the node or run with another service
 * account's token (escalation-pods.ts), interactive access to kube-system, minted credentials and
 * approved certificates.
 *
 * The API server still enforces RBAC (including its own escalation check); this detector only decides
 * which requests the policy sees as escalations. It fails closed: a write it would have to inspect but
 * cannot (a body the gateway cannot read as the API server does, or a patch whose result it cannot see)
 * counts as an escalation.
 */
import type { RequestAttributes } from './request-attributes.js';
import { isObject, jsonPatchAsObject, podFinding, strings } from './escalation-pods.js';

export type EscalationCategory = 'rbac' | 'verb' | 'workload' | 'interactive' | 'credentials';

export interface EscalationFinding {
  category: EscalationCategory;
  /** For people: "pod requests hostPath volume /etc". */
  reason: string;
}

type Json = Record<string, unknown>;

/**
 * One rule: the requests it judges (each field absent matches any) and how. Resources are named
 * `group/resource`, or `resource` alone in the core group; subresource '' is the object itself.
 */
interface RequestRule {
  verbs?: ReadonlySet<string>;
  resources?: ReadonlySet<string>;
  subresources?: ReadonlySet<string>;
  judge: (attributes: RequestAttributes, body: unknown) => EscalationFinding | undefined;
}

const writeVerbs = new Set(['create', 'update', 'patch']);
const rbacGroup = 'rbac.authorization.k8s.io';
const bindingResources = new Set([`${rbacGroup}/rolebindings`, `${rbacGroup}/clusterrolebindings`]);
const rbacResources = new Set([...bindingResources, `${rbacGroup}/roles`, `${rbacGroup}/clusterroles`]);
/** Default roles strong enough that binding them is an escalation whoever the subject is. */
const powerfulRoles = new Set(['cluster-admin', 'admin', 'edit']);
/** Subjects that stand for everyone: binding anything to them widens access for all callers. */
const everyoneSubjects = new Set(['system:authenticated', 'system:unauthenticated', 'system:anonymous']);
const dangerousRoleVerbs = new Set(['*', 'bind', 'escalate', 'impersonate']);
/** Kinds that carry a pod spec or a pod template. */
const podBearing = new Set(['pods', 'podtemplates', 'replicationcontrollers', 'apps/deployments', 'apps/daemonsets', 'apps/statefulsets', 'apps/replicasets', 'batch/jobs', 'batch/cronjobs']);
const kinds: Record<string, string> = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' };

function finding(category: EscalationCategory, reason: string): EscalationFinding {
  return { category, reason };
}

function target(attributes: RequestAttributes): string {
  const { resource, subresource, name } = attributes;
  return `${resource}${subresource ? `/${subresource}` : ''}${name ? ` ${name}` : ''}`;
}

/** A body as the partial object it writes: a JSON patch's ops placed at their paths. */
function written(body: unknown): unknown {
  return Array.isArray(body) ? jsonPatchAsObject(body) : body;
}

function bindingFinding(kind: string, body: Json): EscalationFinding | undefined {
  const roleRef = isObject(body['roleRef']) ? body['roleRef'] : {};
  const role = typeof roleRef['name'] === 'string' ? roleRef['name'] : '';
  if (powerfulRoles.has(role)) return finding('rbac', `${kind} binds the powerful role ${role}`);
  const subjects = Array.isArray(body['subjects']) ? body['subjects'] : [];
  for (const subject of subjects) {
    const name = isObject(subject) && typeof subject['name'] === 'string' ? subject['name'] : '';
    if (everyoneSubjects.has(name)) return finding('rbac', `${kind} binds ${role || 'a role'} to ${name}`);
  }
  return undefined;
}

function roleFinding(kind: string, body: Json): EscalationFinding | undefined {
  if (isObject(body['aggregationRule'])) return finding('rbac', `${kind} aggregates other roles, whose rights it cannot be judged by`);
  const rules = Array.isArray(body['rules']) ? body['rules'] : [];
  for (const rule of rules) {
    if (!isObject(rule)) continue;
    const verbs = strings(rule['verbs']).map((v) => v.toLowerCase());
    const resources = strings(rule['resources']).map((r) => r.toLowerCase());
    const strongVerb = verbs.find((v) => dangerousRoleVerbs.has(v));
    if (strongVerb) return finding('rbac', `${kind} grants the verb ${strongVerb}`);
    if (resources.includes('*')) return finding('rbac', `${kind} grants every resource (*)`);
    if (resources.some((r) => r === 'secrets' || r.startsWith('secrets/'))) return finding('rbac', `${kind} grants access to secrets`);
    if (strings(rule['nonResourceURLs']).includes('*')) return finding('rbac', `${kind} grants every non-resource URL (*)`);
  }
  return undefined;
}

function rbacFinding(attributes: RequestAttributes, body: unknown): EscalationFinding | undefined {
  const kind = kinds[attributes.resource] ?? attributes.resource;
  if (attributes.verb === 'patch') return finding('rbac', `patch of ${kind} ${attributes.name}: the result cannot be judged before it is applied`);
  if (!isObject(body)) return finding('rbac', `${attributes.verb} of ${kind} with a body that cannot be inspected`);
  return bindingResources.has(`${rbacGroup}/${attributes.resource}`) ? bindingFinding(kind, body) : roleFinding(kind, body);
}

/** A service account token Secret mints a token for its account (the type cannot change after create). */
function secretFinding(attributes: RequestAttributes, body: unknown): EscalationFinding | undefined {
  if (body === null || typeof body !== 'object') return finding('credentials', `${attributes.verb} of a Secret with a body that cannot be inspected`);
  const secret = written(body);
  return isObject(secret) && secret['type'] === 'kubernetes.io/service-account-token' ? finding('credentials', 'the request creates a service account token Secret') : undefined;
}

function workloadFinding(attributes: RequestAttributes, body: unknown): EscalationFinding | undefined {
  const { verb, resource, subresource } = attributes;
  if (body === null || typeof body !== 'object') return finding('workload', `${verb} of ${target(attributes)} with a body that cannot be inspected`);
  if (Array.isArray(body) && body.some((op) => isObject(op) && (op['op'] === 'copy' || op['op'] === 'move'))) {
    return finding('workload', `JSON patch of ${target(attributes)} copies or moves values: the result cannot be judged before it is applied`);
  }
  // the ephemeralcontainers subresource applies only the ephemeral containers of its body: the rest is no guide
  const view = verb === 'patch' || subresource === 'ephemeralcontainers' ? 'patch' : 'whole';
  const reason = podFinding(written(body), view);
  if (!reason) return undefined;
  return finding('workload', resource === 'pods' ? reason : reason.replace(/^pod /, `${resource.replace(/s$/, '')} template `));
}

const requestRules: RequestRule[] = [
  { verbs: new Set(['bind', 'escalate', 'impersonate']), judge: (a) => finding('verb', `the request uses the ${a.verb} verb on ${target(a)}`) },
  {
    resources: new Set(['pods']),
    subresources: new Set(['exec', 'attach', 'portforward']),
    judge: (a) => (a.namespace === 'kube-system' ? finding('interactive', `${a.subresource} into pod ${a.name} in kube-system`) : undefined),
  },
  { resources: new Set(['nodes']), subresources: new Set(['proxy']), judge: (a) => finding('interactive', `nodes/proxy reaches the kubelet API of node ${a.name}`) },
  { verbs: writeVerbs, resources: new Set(['serviceaccounts']), subresources: new Set(['token']), judge: (a) => finding('credentials', `the request mints a token for service account ${a.name}`) },
  {
    verbs: writeVerbs,
    resources: new Set(['certificates.k8s.io/certificatesigningrequests']),
    subresources: new Set(['approval']),
    judge: (a) => finding('credentials', `the request approves certificate signing request ${a.name}`),
  },
  { verbs: writeVerbs, resources: new Set(['secrets']), subresources: new Set(['']), judge: secretFinding },
  { verbs: writeVerbs, resources: rbacResources, subresources: new Set(['']), judge: rbacFinding },
  // the ephemeralcontainers subresource changes the pod spec; status, scale and the rest do not
  { verbs: writeVerbs, resources: podBearing, subresources: new Set(['', 'ephemeralcontainers']), judge: workloadFinding },
];

/**
 * Detects an escalation in one request. `body` is the object the request body carries (request-body.ts),
 * or undefined when there is none or the gateway cannot read it as the API server would — for writes that
 * need inspecting, undefined counts as an escalation.
 */
export function detectEscalation(attributes: RequestAttributes, body: unknown): EscalationFinding | undefined {
  if (!attributes.isResourceRequest) return undefined;
  const resource = attributes.apiGroup ? `${attributes.apiGroup}/${attributes.resource}` : attributes.resource;
  for (const rule of requestRules) {
    if (rule.verbs && !rule.verbs.has(attributes.verb)) continue;
    if (rule.resources && !rule.resources.has(resource)) continue;
    if (rule.subresources && !rule.subresources.has(attributes.subresource)) continue;
    const found = rule.judge(attributes, body);
    if (found) return found;
  }
  return undefined;
}
