/**
 * An API request as an auditor reads it: "delete pods default/api-7", and the words a kubectl command line
 * for it would use ("kubectl delete pod api-7 -n default"), so that search finds a call from how a person
 * remembers typing it.
 */

/** The request attributes a recording keeps (RequestAttributes in src/gateway/request-attributes.ts). */
export interface RecordedAttributes {
  isResourceRequest?: boolean;
  verb: string;
  path?: string;
  apiGroup?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

/** kubectl's short names for built-in resources. */
const shortNames: Record<string, string> = {
  po: 'pods', deploy: 'deployments', svc: 'services', ns: 'namespaces', cm: 'configmaps', sa: 'serviceaccounts',
  rs: 'replicasets', ds: 'daemonsets', sts: 'statefulsets', ing: 'ingresses', no: 'nodes', pv: 'persistentvolumes',
  pvc: 'persistentvolumeclaims', ep: 'endpoints', cj: 'cronjobs', hpa: 'horizontalpodautoscalers', netpol: 'networkpolicies',
  crd: 'customresourcedefinitions', pdb: 'poddisruptionbudgets', quota: 'resourcequotas', limits: 'limitranges', ev: 'events',
};

/** A resource as a user may type it (`pod`, `po`, `Pods`, `deployments.apps`) in its plural API form. */
export function canonicalResource(word: string): string {
  const lower = word.toLowerCase().split('.')[0]!.split('/')[0]!;
  if (shortNames[lower]) return shortNames[lower];
  if (lower.endsWith('s')) return lower;
  if (lower.endsWith('y') && !/[aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  if (/(ss|sh|ch|x)$/.test(lower)) return `${lower}es`;
  return `${lower}s`;
}

/** "delete pods default/api-7", "get pods/log default/api-7", "get /healthz". */
export function describeApiCall(attributes: RecordedAttributes): string {
  if (attributes.isResourceRequest === false || !attributes.resource) return `${attributes.verb} ${attributes.path ?? ''}`.trim();
  const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource;
  const group = attributes.apiGroup ? `.${attributes.apiGroup}` : '';
  const target = [attributes.namespace, attributes.name].filter(Boolean).join('/');
  return `${attributes.verb} ${resource}${group}${target ? ` ${target}` : ''}`;
}

/** kubectl verbs that reach the API server as another verb. */
const kubectlVerbs: Record<string, string[]> = {
  apply: ['patch', 'create', 'get'],
  edit: ['patch', 'get'],
  logs: ['get'],
  exec: ['create', 'get'],
  attach: ['create', 'get'],
  'port-forward': ['create', 'get'],
  describe: ['get', 'list'],
  scale: ['patch', 'update'],
  label: ['patch'],
  annotate: ['patch'],
  rollout: ['patch', 'get'],
  get: ['get', 'list', 'watch'],
};

/**
 * Whether a command line a person typed ("kubectl delete pod api-7 -n prod") names this API call: every
 * word must be the call's verb (or a kubectl verb that becomes it), resource, subresource, name or
 * namespace. Flags other than the namespace are ignored; "kubectl" itself is optional. `clientCommand` is the
 * command kubectl reported for the session (its Kubectl-Command header, "kubectl apply"), when known.
 */
export function commandLineMatches(words: string[], attributes: RecordedAttributes, clientCommand?: string): boolean {
  if (!attributes.resource) return false;
  const remaining = [...words];
  if (remaining[0]?.toLowerCase() === 'kubectl') remaining.shift();
  // "kubectl apply …" reaches the server as get and patch: when kubectl said which command it ran, hold it to that
  const typedVerb = remaining[0]?.toLowerCase();
  if (typedVerb && typedVerb !== attributes.verb && kubectlVerbs[typedVerb] && clientCommand && !clientCommand.split(' ').includes(typedVerb)) return false;
  const positional: string[] = [];
  for (let i = 0; i < remaining.length; i++) {
    const word = remaining[i]!;
    if (word === '-n' || word === '--namespace') {
      if (remaining[i + 1] !== attributes.namespace) return false;
      i++;
    } else if (word.startsWith('--namespace=')) {
      if (word.slice('--namespace='.length) !== attributes.namespace) return false;
    } else if (!word.startsWith('-')) positional.push(word);
  }
  if (positional.length === 0) return false;
  return positional.every((word, position) => {
    const lower = word.toLowerCase();
    if (position === 0 && (lower === attributes.verb || kubectlVerbs[lower]?.includes(attributes.verb))) return true;
    const [resource, name] = lower.includes('/') ? lower.split('/', 2) as [string, string] : [lower, undefined];
    if (name !== undefined) return canonicalResource(resource) === attributes.resource && name === attributes.name?.toLowerCase();
    return (
      canonicalResource(lower) === attributes.resource ||
      lower === attributes.subresource ||
      lower === attributes.name?.toLowerCase() ||
      lower === attributes.namespace?.toLowerCase()
    );
  });
}
