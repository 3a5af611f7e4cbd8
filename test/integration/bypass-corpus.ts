/**
 * The bypass corpus: every trick an attacker holding one ordinary grant has tried against the gateway,
 * as data. Each line sends one raw request through the real gateway to the real API server and says
 * what must come back; `gateway-bypass.test.ts` runs them all. A new trick is one more line.
 *
 * Expectations:
 *  - `refused`: a 4xx answer, and nothing of the Secret in it;
 *  - `masked`: whatever the answer (served or refused), the Secret's value appears in clear text (or
 *    base64) neither in the answer nor in anything recorded, and the request itself was recorded;
 *    nor does `awsKey`, a value the policy's patterns mask;
 *  - `denied`: the gateway itself refused it by policy (403 `KG_DENIED`), before the API server saw it.
 *  - `held`: refused as a request that needs approval (KG_APPROVAL_REQUIRED): the test policy sends
 *    escalations to a human, and the trick is an escalation dressed as something else.
 */
export interface TrickContext {
  /** The grant's namespace of work, holding the Secret `secret`. */
  target: string;
  secret: string;
  /** The Secret's value (its `password`). */
  value: string;
  /** An AWS access key id (the fixture policy's pattern), found nowhere else. */
  awsKey: string;
}

export interface Trick {
  name: string;
  /** The DESIGN.md security invariant it attacks. */
  invariant: number;
  method?: string;
  path: (c: TrickContext) => string;
  headers?: Record<string, string>;
  /** A request body, sent with its Content-Type. */
  body?: { contentType: string; text: (c: TrickContext) => string };
  expect: 'refused' | 'masked' | 'held' | 'denied';
}

const secretPath = (c: TrickContext) => `/api/v1/namespaces/${c.target}/secrets/${c.secret}`;
const upgrade = (protocol: string, connection = 'Upgrade') => ({ connection, upgrade: protocol });
const podsPath = (c: TrickContext) => `/api/v1/namespaces/${c.target}/pods`;
/** A YAML Pod whose spec holds `lines` (indented under `spec:`). */
const yamlPod = (name: string, ...lines: string[]) => ({
  contentType: 'application/yaml',
  text: () => ['apiVersion: v1', 'kind: Pod', `metadata: {name: ${name}}`, 'spec:', ...lines.map((line) => `  ${line}`), '  containers:', '  - {name: c, image: nginx}', ''].join('\n'),
});
const jsonPod = (name: string, spec: Record<string, unknown>, container: Record<string, unknown> = {}) => ({
  contentType: 'application/json',
  text: () => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { ...spec, containers: [{ name: 'c', image: 'nginx', ...container }] } }),
});
const tokenSecretYaml = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: minted\n  annotations: {kubernetes.io/service-account.name: default}\ntype: kubernetes.io/service-account-token\n';
const jsonPatch = (text: (c: TrickContext) => string) => ({ contentType: 'application/json-patch+json', text });

export const tricks: Trick[] = [
  // an Upgrade header on an ordinary request must not take the stream path, where nothing is masked
  { name: 'Upgrade: x on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade: websocket on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('websocket'), expect: 'masked' },
  { name: 'Upgrade: SPDY/3.1 on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('SPDY/3.1'), expect: 'masked' },
  { name: 'Connection: keep-alive, Upgrade on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('h2c', 'keep-alive, Upgrade'), expect: 'masked' },
  { name: 'Upgrade on a LIST of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets`, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade on a watch of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?watch=1&timeoutSeconds=1`, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade on a Table of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?includeObject=Object`, headers: { ...upgrade('x'), accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }, expect: 'masked' },
  // a compressed answer would pass the maskers unread (the API server gzips responses above 128 KiB; the Secret is larger)
  { name: 'Accept-Encoding: gzip on a GET of a large Secret', invariant: 9, path: secretPath, headers: { 'accept-encoding': 'gzip' }, expect: 'masked' },
  { name: 'Accept-Encoding: gzip on a LIST of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets`, headers: { 'accept-encoding': 'gzip, deflate' }, expect: 'masked' },
  { name: 'Accept-Encoding: gzip on a Table of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?includeObject=Object`, headers: { 'accept-encoding': 'gzip', accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }, expect: 'masked' },
  // paths the API server could read differently from the gateway
  { name: 'an encoded slash turns a Secret GET into another path', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets%2F${c.secret}`, expect: 'refused' },
  { name: 'a dot segment climbs out of the namespace', invariant: 10, path: (c) => `/api/v1/namespaces/other/../${c.target}/secrets/${c.secret}`, expect: 'refused' },
  { name: 'an encoded dot segment', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/%2E%2E/secrets/${c.secret}`, expect: 'refused' },
  { name: 'an empty segment', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}//secrets/${c.secret}`, expect: 'refused' },
  { name: 'a double-encoded slash', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets%252F${c.secret}`, expect: 'refused' },
  // the /kubegate/grants/NAME/ prefix (kubegate login --grant) is taken off first: what follows is read as any path
  { name: 'a grant-path prefix before an encoded dot segment', invariant: 10, path: (c) => `/kubegate/grants/g/api/v1/namespaces/${c.target}/%2E%2E/secrets/${c.secret}`, expect: 'refused' },
  { name: 'a grant-path prefix before a dot segment', invariant: 10, path: (c) => `/kubegate/grants/g/../api/v1/namespaces/${c.target}/secrets/${c.secret}`, expect: 'refused' },
  { name: 'a semicolon in the query', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets?watch=1;x=y`, expect: 'refused' },
  // identity headers from the client
  { name: 'Impersonate-User: system:admin to read kube-system Secrets', invariant: 3, path: () => '/api/v1/namespaces/kube-system/secrets', headers: { 'impersonate-user': 'system:admin' }, expect: 'refused' },
  { name: 'Impersonate-Group: system:masters to read kube-system Secrets', invariant: 3, path: () => '/api/v1/namespaces/kube-system/secrets', headers: { 'impersonate-group': 'system:masters' }, expect: 'refused' },
  // inputs aimed at the gateway's own parsers: an object path through __proto__ (prototype pollution, which
  // would change every later decision), a body nested deep enough to abort the YAML parser
  { name: 'a JSON patch whose path goes through __proto__', invariant: 10, method: 'PATCH', path: (c) => `/api/v1/namespaces/${c.target}/pods/web`, body: jsonPatch(() => JSON.stringify([{ op: 'add', path: '/__proto__/escalation', value: true }, { op: 'add', path: '/constructor/prototype/escalation', value: true }])), expect: 'refused' },
  { name: 'delete namespace after it: a Deny rule still denies', invariant: 10, method: 'DELETE', path: (c) => `/api/v1/namespaces/${c.target}`, expect: 'denied' },
  { name: 'a YAML body nested 20,000 deep', invariant: 11, method: 'POST', path: podsPath, body: { contentType: 'application/yaml', text: () => '['.repeat(20_000) + ']'.repeat(20_000) }, expect: 'held' },
  { name: 'a JSON body nested 20,000 deep', invariant: 11, method: 'POST', path: podsPath, body: { contentType: 'application/json', text: () => '['.repeat(20_000) + ']'.repeat(20_000) }, expect: 'held' },
  // YAML bodies, read by the API server as YAML 1.1: `yes` and `on` are true there
  { name: 'a YAML pod with privileged: yes', invariant: 10, method: 'POST', path: podsPath, body: yamlPod('yaml-privileged-yes', 'initContainers: [{name: i, image: nginx, securityContext: {privileged: yes}}]'), expect: 'held' },
  { name: 'a YAML pod with hostPID: on', invariant: 10, method: 'POST', path: podsPath, body: yamlPod('yaml-hostpid-on', 'hostPID: on'), expect: 'held' },
  { name: 'a YAML pod with hostPID twice, false then true', invariant: 10, method: 'POST', path: podsPath, body: yamlPod('yaml-hostpid-twice', 'hostPID: false', 'hostPID: true'), expect: 'held' },
  { name: 'a YAML service account token Secret', invariant: 10, method: 'POST', path: (c) => `/api/v1/namespaces/${c.target}/secrets`, body: { contentType: 'application/yaml', text: () => tokenSecretYaml }, expect: 'held' },
  { name: 'a service account token Secret by server-side apply', invariant: 10, method: 'PATCH', path: (c) => `/api/v1/namespaces/${c.target}/secrets/minted?fieldManager=bypass`, body: { contentType: 'application/apply-patch+yaml', text: () => tokenSecretYaml }, expect: 'held' },
  // pods that act with rights the grant does not give: another service account's token, the node's
  { name: 'a YAML pod running as another service account', invariant: 4, method: 'POST', path: podsPath, body: yamlPod('yaml-builder', 'serviceAccountName: builder'), expect: 'held' },
  { name: 'a pod running as another service account', invariant: 4, method: 'POST', path: podsPath, body: jsonPod('json-builder', { serviceAccountName: 'builder' }), expect: 'held' },
  { name: 'a pod adding DAC_READ_SEARCH', invariant: 4, method: 'POST', path: podsPath, body: jsonPod('cap-dac-read-search', {}, { securityContext: { capabilities: { add: ['DAC_READ_SEARCH'] } } }), expect: 'held' },
  { name: 'a pod adding SYS_RAWIO', invariant: 4, method: 'POST', path: podsPath, body: jsonPod('cap-sys-rawio', {}, { securityContext: { capabilities: { add: ['SYS_RAWIO'] } } }), expect: 'held' },
  { name: 'a pod adding BPF', invariant: 4, method: 'POST', path: podsPath, body: jsonPod('cap-bpf', {}, { securityContext: { capabilities: { add: ['BPF'] } } }), expect: 'held' },
  {
    name: 'an ephemeral container mounting a pod volume',
    invariant: 4,
    method: 'PATCH',
    path: (c) => `/api/v1/namespaces/${c.target}/pods/web/ephemeralcontainers`,
    body: { contentType: 'application/strategic-merge-patch+json', text: () => JSON.stringify({ spec: { ephemeralContainers: [{ name: 'd', image: 'busybox', volumeMounts: [{ name: 'host', mountPath: '/host' }] }] } }) },
    expect: 'held',
  },
  // secrets in what is recorded of a request, not only in its body's JSON
  { name: 'a JSON patch setting Secret data', invariant: 9, method: 'PATCH', path: secretPath, body: jsonPatch((c) => JSON.stringify([{ op: 'replace', path: '/data/password', value: Buffer.from(c.value).toString('base64') }])), expect: 'masked' },
  { name: 'a JSON patch adding Secret data as an object', invariant: 9, method: 'PATCH', path: secretPath, body: jsonPatch((c) => JSON.stringify([{ op: 'add', path: '/data', value: { password: Buffer.from(c.value).toString('base64'), filler: Buffer.from('f'.repeat(200 * 1024)).toString('base64') } }])), expect: 'masked' },
  { name: 'a JSON patch setting stringData', invariant: 9, method: 'PATCH', path: secretPath, body: jsonPatch((c) => JSON.stringify([{ op: 'add', path: '/stringData', value: { password: c.value } }])), expect: 'masked' },
  { name: 'a JSON patch copying Secret data into an annotation', invariant: 9, method: 'PATCH', path: secretPath, body: jsonPatch(() => JSON.stringify([{ op: 'copy', from: '/data/password', path: '/metadata/annotations/leak' }])), expect: 'denied' },
  { name: 'a JSON patch moving Secret data into annotations', invariant: 9, method: 'PATCH', path: secretPath, body: jsonPatch(() => JSON.stringify([{ op: 'move', from: '/data', path: '/metadata/annotations' }])), expect: 'denied' },
  { name: 'a masked value in a query string', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?labelSelector=key%3D${c.awsKey}`, expect: 'masked' },
  { name: 'a masked value in an exec command argument', invariant: 9, method: 'POST', path: (c) => `/api/v1/namespaces/${c.target}/pods/nowhere/exec?command=sh&command=-c&command=export%20K%3D${c.awsKey}&stdout=true`, expect: 'masked' },
  // the proxy subresources relay to a workload or the kubelet unchecked (nodes/proxy/exec is an exec)
  { name: 'pods/proxy', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/pods/web/proxy/`, expect: 'denied' },
  { name: 'services/proxy', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/services/web:80/proxy/x`, expect: 'denied' },
  // nodes/proxy is an escalation too: the fixture's escalation rule decides it first (held), refused before the kubelet either way
  { name: 'nodes/proxy/exec', invariant: 10, method: 'POST', path: (c) => `/api/v1/nodes/kwok-node-0/proxy/exec/${c.target}/web/c?command=sh&command=-c&command=id`, expect: 'held' },
  { name: 'pods/proxy with an Upgrade', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/pods/web/proxy/`, headers: upgrade('websocket'), expect: 'denied' },
];
