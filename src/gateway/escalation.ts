/**
 * The `escalation` class of a request, judged from the request alone (attributes and parsed body), so a
 * policy can send it to a human: `match: {escalation: true}`. An escalation is a request that could give
 * its caller — or anyone — more power than the grant's role: RBAC that binds or grants strong rights,
 * the `bind`/`escalate`/`impersonate` verbs, pods that reach the node, interactive access to
 * kube-system, minted credentials and approved certificates.
 *
 * The API server still enforces RBAC (including its own escalation check); this detector only decides
 * which requests the policy sees as escalations. It fails closed: a write it would have to inspect but
 * cannot (no JSON body, or a patch whose result it cannot see) counts as an escalation.
 */
import type { RequestAttributes } from './request-attributes.js';

export type EscalationCategory = 'rbac' | 'verb' | 'workload' | 'interactive' | 'credentials';

export interface EscalationFinding {
  category: EscalationCategory;
  /** For people: "pod requests hostPath volume /etc". */
  reason: string;
}

const writeVerbs = new Set(['create', 'update', 'patch']);
const escalatingVerbs = new Set(['bind', 'escalate', 'impersonate']);
const rbacGroup = 'rbac.authorization.k8s.io';
const bindingResources = new Set(['rolebindings', 'clusterrolebindings']);
const roleResources = new Set(['roles', 'clusterroles']);
/** Default roles strong enough that binding them is an escalation whoever the subject is. */
const powerfulRoles = new Set(['cluster-admin', 'admin', 'edit']);
/** Subjects that stand for everyone: binding anything to them widens access for all callers. */
const everyoneSubjects = new Set(['system:authenticated', 'system:unauthenticated', 'system:anonymous']);
const dangerousRoleVerbs = new Set(['*', 'bind', 'escalate', 'impersonate']);
/** Capabilities that break container isolation; matched with or without the `CAP_` prefix. */
const dangerousCapabilities = new Set(['ALL', 'SYS_ADMIN', 'NET_ADMIN', 'SYS_MODULE', 'SYS_PTRACE']);
/** Workload kinds that carry a pod template (core and apps/batch groups). */
const podBearing: Record<string, Set<string>> = {
  '': new Set(['pods', 'podtemplates', 'replicationcontrollers']),
  apps: new Set(['deployments', 'daemonsets', 'statefulsets', 'replicasets']),
  batch: new Set(['jobs', 'cronjobs']),
};
/** Subresources of pod-bearing kinds whose body can change the pod spec. */
const podSpecSubresources = new Set(['', 'ephemeralcontainers']);
const interactiveSubresources = new Set(['exec', 'attach', 'portforward']);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (isObject(value)) return Object.values(value).filter((v): v is string => typeof v === 'string');
  return [];
}

function finding(category: EscalationCategory, reason: string): EscalationFinding {
  return { category, reason };
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

/**
 * Walks a pod-bearing body at any depth — a Pod, a workload's `spec.template`, a CronJob's
 * `spec.jobTemplate.spec.template`, or a partial patch of any of them — for the settings that reach the
 * node. Walking everything (instead of known paths) lets one rule cover creates, strategic-merge and
 * merge patches alike; the keys looked for do not occur with these value types elsewhere in these kinds.
 */
function podFinding(value: unknown, depth = 0): string | undefined {
  if (depth > 64) return 'the body nests too deep to inspect';
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = podFinding(item, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'privileged' && child === true) return 'pod requests a privileged container';
    if (key === 'hostProcess' && child === true) return 'pod requests a Windows host process container';
    if ((key === 'hostNetwork' || key === 'hostPID' || key === 'hostIPC') && child === true) return `pod requests ${key}`;
    if (key === 'hostPath' && child !== null && child !== undefined) {
      const path = isObject(child) && typeof child['path'] === 'string' ? child['path'] : '(path not shown)';
      return `pod requests hostPath volume ${path}`;
    }
    if (key === 'capabilities' && isObject(child)) {
      const added = strings(child['add']).map((c) => c.toUpperCase().replace(/^CAP_/, ''));
      const bad = added.find((c) => dangerousCapabilities.has(c));
      if (bad) return `pod adds capability ${bad}`;
    }
    const found = podFinding(child, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** A JSON Patch (RFC 6902) as the partial object it writes: each op's value placed at its path. */
function jsonPatchAsObject(ops: unknown[]): Json {
  const root: Json = {};
  for (const op of ops) {
    if (!isObject(op) || typeof op['path'] !== 'string' || !('value' in op)) continue;
    const segments = op['path'].split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node = root;
    segments.forEach((segment, index) => {
      if (index === segments.length - 1) node[segment] = op['value'];
      else node = isObject(node[segment]) ? (node[segment] as Json) : (node[segment] = {});
    });
    if (segments.length === 0) Object.assign(root, isObject(op['value']) ? op['value'] : {});
  }
  return root;
}

function kindOf(resource: string): string {
  const kinds: Record<string, string> = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' };
  return kinds[resource] ?? resource;
}

/**
 * Detects an escalation in one request. `body` is the parsed JSON request body, or undefined when there
 * is none or it is not JSON (YAML, protobuf, over the size limit) — for writes that need inspecting,
 * undefined counts as an escalation.
 */
export function detectEscalation(attributes: RequestAttributes, body: unknown): EscalationFinding | undefined {
  if (!attributes.isResourceRequest) return undefined;
  const { verb, apiGroup, resource, subresource, namespace } = attributes;
  const target = `${resource}${subresource ? `/${subresource}` : ''}${attributes.name ? ` ${attributes.name}` : ''}`;

  if (escalatingVerbs.has(verb)) return finding('verb', `the request uses the ${verb} verb on ${target}`);

  if (apiGroup === '' && resource === 'pods' && interactiveSubresources.has(subresource) && namespace === 'kube-system') {
    return finding('interactive', `${subresource} into pod ${attributes.name} in kube-system`);
  }
  if (apiGroup === '' && resource === 'nodes' && subresource === 'proxy') return finding('interactive', `nodes/proxy reaches the kubelet API of node ${attributes.name}`);

  if (!writeVerbs.has(verb)) return undefined;

  if (apiGroup === '' && resource === 'serviceaccounts' && subresource === 'token') return finding('credentials', `the request mints a token for service account ${attributes.name}`);
  if (apiGroup === 'certificates.k8s.io' && resource === 'certificatesigningrequests' && subresource === 'approval') {
    return finding('credentials', `the request approves certificate signing request ${attributes.name}`);
  }
  if (apiGroup === '' && resource === 'secrets' && subresource === '' && isObject(body) && body['type'] === 'kubernetes.io/service-account-token') {
    return finding('credentials', 'the request creates a service account token Secret');
  }

  if (apiGroup === rbacGroup && (bindingResources.has(resource) || roleResources.has(resource)) && subresource === '') {
    const kind = kindOf(resource);
    if (verb === 'patch') return finding('rbac', `patch of ${kind} ${attributes.name}: the result cannot be judged before it is applied`);
    if (!isObject(body)) return finding('rbac', `${verb} of ${kind} with a body that cannot be inspected`);
    return bindingResources.has(resource) ? bindingFinding(kind, body) : roleFinding(kind, body);
  }

  if (podBearing[apiGroup]?.has(resource) && podSpecSubresources.has(subresource)) {
    if (body === undefined || body === null || typeof body !== 'object') return finding('workload', `${verb} of ${target} with a body that cannot be inspected`);
    if (Array.isArray(body) && body.some((op) => isObject(op) && (op['op'] === 'copy' || op['op'] === 'move'))) {
      return finding('workload', `JSON patch of ${target} copies or moves values: the result cannot be judged before it is applied`);
    }
    const reason = podFinding(Array.isArray(body) ? jsonPatchAsObject(body) : body);
    if (reason) return finding('workload', resource === 'pods' ? reason : reason.replace(/^pod /, `${resource.replace(/s$/, '')} template `));
  }
  return undefined;
}
