/**
 * The pod settings that reach past what the grant's role gives, as one table of rules keyed by field name.
 * The walker applies them to a pod-bearing body at any depth — a Pod, a workload's `spec.template`, a
 * CronJob's `spec.jobTemplate.spec.template`, or a partial patch of any of them — so that one rule covers
 * creates, strategic-merge and merge patches alike; the keys looked for do not occur with these value types
 * elsewhere in these kinds.
 *
 * A patch shows only what it changes: where a rule needs the rest of the pod (the service account whose
 * token a `automountServiceAccountToken` mounts), it judges a patch as if the worst were there.
 */

type Json = Record<string, unknown>;

/** A whole object (create, update), or a patch whose result is not all in the body. */
export type BodyView = 'whole' | 'patch';

/** The reason a field's value is an escalation ("pod requests …"), or undefined. `parent` holds the field. */
type PodRule = (value: unknown, parent: Json, view: BodyView) => string | undefined;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The items of a list — or of the object a JSON patch makes of one (`{"0": …, "-": …}`). */
function members(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return isObject(value) ? Object.values(value) : [];
}

/** The strings of a list (or of an object's values). */
export function strings(value: unknown): string[] {
  return members(value).filter((v): v is string => typeof v === 'string');
}

/**
 * The capabilities a container may add without reaching the node: the Pod Security Standards' baseline
 * list (the container runtimes' defaults). Any other — SYS_ADMIN, NET_ADMIN, DAC_READ_SEARCH, SYS_RAWIO,
 * BPF, PERFMON, SYS_PTRACE, SYS_MODULE, ALL, and names not known yet — is an escalation.
 */
const baselineCapabilities = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

const isTrue = (reason: string): PodRule => (value) => (value === true ? reason : undefined);

/** Whether a `serviceAccountToken` projection occurs anywhere in `value` (a pod's volumes). */
function projectsToken(value: unknown, depth = 0): boolean {
  if (depth > 64) return true;
  if (isObject(value) && value['serviceAccountToken'] !== undefined && value['serviceAccountToken'] !== null) return true;
  return members(value).some((child) => projectsToken(child, depth + 1));
}

/**
 * A pod running as another service account than `default` holds that account's token, which may carry
 * more rights than the caller's; the gateway cannot see those rights, so the token is the escalation —
 * unless the pod shows it mounts none (`automountServiceAccountToken: false`, no projected token).
 */
const serviceAccount: PodRule = (value, parent, view) => {
  if (typeof value !== 'string' || value === '' || value === 'default') return undefined;
  const mountsNone = view === 'whole' && parent['automountServiceAccountToken'] === false && !projectsToken(parent['volumes']);
  return mountsNone ? undefined : `pod runs as service account ${value} with its token`;
};

const podRules = new Map<string, PodRule>([
  ['privileged', isTrue('pod requests a privileged container')],
  ['hostProcess', isTrue('pod requests a Windows host process container')],
  ['hostNetwork', isTrue('pod requests hostNetwork')],
  ['hostPID', isTrue('pod requests hostPID')],
  ['hostIPC', isTrue('pod requests hostIPC')],
  ['procMount', (value) => (value === 'Unmasked' ? 'pod requests an unmasked /proc' : undefined)],
  [
    'hostPath',
    (value) => {
      if (value === null || value === undefined) return undefined;
      return `pod requests hostPath volume ${isObject(value) && typeof value['path'] === 'string' ? value['path'] : '(path not shown)'}`;
    },
  ],
  [
    'capabilities',
    (value) => {
      const added = isObject(value) ? strings(value['add']).map((c) => c.toUpperCase().replace(/^CAP_/, '')) : [];
      const beyond = added.find((c) => !baselineCapabilities.has(c));
      return beyond === undefined ? undefined : `pod adds capability ${beyond}`;
    },
  ],
  ['serviceAccountName', serviceAccount],
  ['serviceAccount', serviceAccount],
  // in a patch, the account the token belongs to is not in the body
  ['automountServiceAccountToken', (value, _parent, view) => (view === 'patch' && value !== false ? 'patch lets the pod mount the token of a service account the request does not show' : undefined)],
  ['serviceAccountToken', (value, _parent, view) => (view === 'patch' && value !== null && value !== undefined ? 'patch projects the token of a service account the request does not show' : undefined)],
  // an ephemeral container mounts the pod's own volumes, which the request does not show (the API server
  // keeps the pod's spec and takes only the ephemeral containers from the body): any of them may be a hostPath
  [
    'ephemeralContainers',
    (value) => {
      const mount = members(value).flatMap((container) => (isObject(container) ? [...members(container['volumeMounts']), ...members(container['volumeDevices'])] : []))[0];
      if (mount === undefined) return undefined;
      return `pod adds an ephemeral container mounting pod volume ${isObject(mount) && typeof mount['name'] === 'string' ? mount['name'] : '(name not shown)'}, which may be a hostPath`;
    },
  ],
]);

/** The first escalation in a pod-bearing body, as a reason for people ("pod requests hostPID"). */
export function podFinding(value: unknown, view: BodyView, depth = 0): string | undefined {
  if (depth > 64) return 'the body nests too deep to inspect';
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = podFinding(item, view, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = podRules.get(key)?.(child, value, view) ?? podFinding(child, view, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * A JSON Patch (RFC 6902) as the partial object it writes: each op's value placed at its path, a `remove`
 * as `null` (as a merge patch deletes).
 */
export function jsonPatchAsObject(ops: unknown[]): Json {
  // objects without a prototype: a path through `__proto__` or `constructor` makes an own key, never
  // reaching Object.prototype (which would change every object in the gateway, its policy decisions too)
  const root: Json = Object.create(null) as Json;
  for (const op of ops) {
    if (!isObject(op) || typeof op['path'] !== 'string') continue;
    if (!('value' in op) && op['op'] !== 'remove') continue;
    const value = op['op'] === 'remove' ? null : op['value'];
    const segments = op['path'].split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node = root;
    segments.forEach((segment, index) => {
      if (index === segments.length - 1) node[segment] = value;
      else node = isObject(node[segment]) ? (node[segment] as Json) : (node[segment] = Object.create(null) as Json);
    });
    if (segments.length === 0) Object.assign(root, isObject(value) ? value : {});
  }
  return root;
}
