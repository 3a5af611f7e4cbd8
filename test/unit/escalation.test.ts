/**
 * The escalation class is judged from the request alone: RBAC that binds or grants strong rights, the
 * escalating verbs, pods that reach the node or hold another service account's token (directly or
 * through a workload template, in a create or a patch), interactive access to kube-system, minted tokens
 * and approved certificates — and anything that would need inspecting but cannot be, fails closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { detectEscalation } from '../../src/gateway/escalation.js';
import { parseRequestAttributes, type RequestAttributes } from '../../src/gateway/request-attributes.js';
import { readObject } from '../../src/gateway/request-body.js';

const rbac = '/apis/rbac.authorization.k8s.io/v1';

function detect(method: string, url: string, body?: unknown) {
  return detectEscalation(parseRequestAttributes(method, url), body);
}

/** The finding for one body sent as the API server reads it: JSON, and YAML (text, or an object written as YAML). */
function detectSent(method: string, url: string, encoding: 'json' | 'yaml', body: unknown) {
  const text = typeof body === 'string' ? body : encoding === 'json' ? JSON.stringify(body) : stringify(body);
  const contentType = encoding === 'json' ? 'application/json' : method === 'PATCH' ? 'application/apply-patch+yaml' : 'application/yaml';
  return detectEscalation(parseRequestAttributes(method, url), readObject(contentType, Buffer.from(text)));
}

/** Each case as JSON and as YAML: the same reason (a regular expression), or none. */
function assertSent(cases: [string, string, unknown, RegExp | undefined][]): void {
  for (const [method, url, body, reason] of cases) {
    for (const encoding of ['json', 'yaml'] as const) {
      const found = detectSent(method, url, encoding, body);
      const what = `${encoding} ${method} ${url} ${JSON.stringify(body)}`;
      if (reason) assert.match(found?.reason ?? '(none)', reason, what);
      else assert.equal(found, undefined, what);
    }
  }
}

function pod(spec: Record<string, unknown>): unknown {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }], ...spec } };
}

test('RBAC: binding a powerful role or everyone is an escalation; an ordinary binding is not', () => {
  const binding = (roleRef: string, subjects: unknown[] = [{ kind: 'User', name: 'bob' }]) => ({ kind: 'ClusterRoleBinding', roleRef: { kind: 'ClusterRole', name: roleRef, apiGroup: 'rbac.authorization.k8s.io' }, subjects });
  for (const role of ['cluster-admin', 'admin', 'edit']) {
    const found = detect('POST', `${rbac}/clusterrolebindings`, binding(role));
    assert.equal(found?.category, 'rbac');
    assert.match(found!.reason, new RegExp(`powerful role ${role}`));
    assert.ok(detect('PUT', `${rbac}/namespaces/a/rolebindings/x`, binding(role)), `update binding ${role}`);
  }
  assert.match(detect('POST', `${rbac}/namespaces/a/rolebindings`, binding('view', [{ kind: 'Group', name: 'system:authenticated' }]))!.reason, /to system:authenticated/);
  assert.equal(detect('POST', `${rbac}/namespaces/a/rolebindings`, binding('view')), undefined);
  assert.equal(detect('DELETE', `${rbac}/clusterrolebindings/x`), undefined, 'removing a binding takes power away');
  assert.equal(detect('GET', `${rbac}/clusterrolebindings`), undefined);
});

test('RBAC: roles granting *, bind, escalate, impersonate or secrets are escalations', () => {
  const role = (rules: unknown[]) => ({ kind: 'ClusterRole', metadata: { name: 'r' }, rules });
  const cases: [unknown[], RegExp][] = [
    [[{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }], /verb \*/],
    [[{ apiGroups: ['*'], resources: ['*'], verbs: ['get'] }], /every resource/],
    [[{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'] }], /verb bind/],
    [[{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['ESCALATE'] }], /verb escalate/],
    [[{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }], /verb impersonate/],
    [[{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }], /secrets/],
    [[{ nonResourceURLs: ['*'], verbs: ['get'] }], /non-resource/],
  ];
  for (const [rules, reason] of cases) assert.match(detect('POST', `${rbac}/clusterroles`, role(rules))?.reason ?? '', reason, JSON.stringify(rules));
  assert.match(detect('POST', `${rbac}/clusterroles`, { kind: 'ClusterRole', aggregationRule: { clusterRoleSelectors: [{}] } })!.reason, /aggregates/);
  assert.equal(detect('POST', `${rbac}/namespaces/a/roles`, role([{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }])), undefined);
});

test('RBAC: any patch of roles or bindings, and a write whose body cannot be read, fail closed', () => {
  assert.match(detect('PATCH', `${rbac}/clusterrolebindings/x`, { subjects: [] })!.reason, /patch of ClusterRoleBinding x/);
  assert.match(detect('PATCH', `${rbac}/namespaces/a/roles/r`, [{ op: 'add', path: '/rules/-', value: {} }])!.reason, /patch of Role r/);
  assert.match(detect('POST', `${rbac}/clusterroles`, undefined)!.reason, /cannot be inspected/);
});

test('the bind, escalate and impersonate verbs are escalations', () => {
  for (const verb of ['bind', 'escalate', 'impersonate']) {
    const attributes: RequestAttributes = { ...parseRequestAttributes('GET', '/api/v1/users/bob'), verb };
    assert.equal(detectEscalation(attributes, undefined)?.category, 'verb', verb);
  }
});

test('pods that reach the node are escalations, with a reason a person reads', () => {
  const url = '/api/v1/namespaces/a/pods';
  const cases: [Record<string, unknown>, string][] = [
    [{ volumes: [{ name: 'etc', hostPath: { path: '/etc' } }] }, 'pod requests hostPath volume /etc'],
    [{ hostNetwork: true }, 'pod requests hostNetwork'],
    [{ hostPID: true }, 'pod requests hostPID'],
    [{ hostIPC: true }, 'pod requests hostIPC'],
    [{ containers: [{ name: 'c', securityContext: { privileged: true } }] }, 'pod requests a privileged container'],
    [{ initContainers: [{ name: 'i', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }, 'pod adds capability NET_ADMIN'],
    [{ containers: [{ name: 'c', securityContext: { capabilities: { add: ['cap_sys_admin'] } } }] }, 'pod adds capability SYS_ADMIN'],
    [{ containers: [{ name: 'c', securityContext: { capabilities: { add: ['ALL'] } } }] }, 'pod adds capability ALL'],
    [{ securityContext: { windowsOptions: { hostProcess: true } } }, 'pod requests a Windows host process container'],
  ];
  for (const [spec, reason] of cases) {
    const found = detect('POST', url, pod(spec));
    assert.deepEqual(found, { category: 'workload', reason }, JSON.stringify(spec));
  }
  assert.equal(detect('POST', url, pod({ hostNetwork: false, containers: [{ name: 'c', securityContext: { privileged: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } } }] })), undefined);
  assert.equal(detect('POST', url, pod({ volumes: [{ name: 'data', emptyDir: {} }] })), undefined);
  assert.match(detect('POST', url, undefined)!.reason, /cannot be inspected/, 'a YAML or protobuf pod fails closed');
  assert.equal(detect('PATCH', '/api/v1/namespaces/a/pods/p/status', { status: { phase: 'Running' } }), undefined);
});

test('workload templates are inspected: deployments, daemonsets, statefulsets, replicasets, jobs, cronjobs', () => {
  const template = { spec: { volumes: [{ name: 'root', hostPath: { path: '/' } }], containers: [{ name: 'c' }] } };
  const urls: [string, unknown][] = [
    ['/apis/apps/v1/namespaces/a/deployments', { spec: { template } }],
    ['/apis/apps/v1/namespaces/a/daemonsets', { spec: { template } }],
    ['/apis/apps/v1/namespaces/a/statefulsets', { spec: { template } }],
    ['/apis/apps/v1/namespaces/a/replicasets', { spec: { template } }],
    ['/apis/batch/v1/namespaces/a/jobs', { spec: { template } }],
    ['/apis/batch/v1/namespaces/a/cronjobs', { spec: { jobTemplate: { spec: { template } } } }],
    ['/api/v1/namespaces/a/replicationcontrollers', { spec: { template } }],
  ];
  for (const [url, body] of urls) assert.match(detect('POST', url, body)?.reason ?? '', /template requests hostPath volume \/$/, url);
  assert.equal(detect('POST', '/apis/apps/v1/namespaces/a/deployments', { spec: { template: { spec: { containers: [{ name: 'c' }] } } } }), undefined);
  assert.equal(detect('PATCH', '/apis/apps/v1/namespaces/a/deployments/d/scale', { spec: { replicas: 3 } }), undefined);
});

test('patches are judged by what they write: strategic merge, merge and JSON patch', () => {
  const deployment = '/apis/apps/v1/namespaces/a/deployments/web';
  assert.match(detect('PATCH', deployment, { spec: { template: { spec: { containers: [{ name: 'web', securityContext: { privileged: true } }] } } } })!.reason, /privileged/);
  assert.match(detect('PATCH', deployment, [{ op: 'replace', path: '/spec/template/spec/hostPID', value: true }])!.reason, /hostPID/);
  assert.match(detect('PATCH', deployment, [{ op: 'add', path: '/spec/template/spec/volumes/-', value: { name: 'v', hostPath: { path: '/var/run/docker.sock' } } }])!.reason, /hostPath volume \/var\/run\/docker.sock/);
  assert.match(detect('PATCH', deployment, [{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/capabilities/add/-', value: 'SYS_ADMIN' }])!.reason, /SYS_ADMIN/);
  assert.match(detect('PATCH', deployment, [{ op: 'add', path: '/spec/template/spec/volumes/0/hostPath/path', value: '/etc' }])!.reason, /hostPath volume \/etc/);
  assert.match(detect('PATCH', deployment, [{ op: 'copy', from: '/spec/template/spec/automountServiceAccountToken', path: '/spec/template/spec/hostNetwork' }])!.reason, /copies or moves/);
  assert.equal(detect('PATCH', deployment, [{ op: 'replace', path: '/spec/replicas', value: 5 }]), undefined);
  assert.match(detect('PATCH', '/api/v1/namespaces/a/pods/p/ephemeralcontainers', { spec: { ephemeralContainers: [{ name: 'debug', securityContext: { privileged: true } }] } })!.reason, /privileged/, 'kubectl debug --profile=sysadmin');
});

test('exec, attach and port-forward into kube-system, and nodes/proxy, are escalations', () => {
  for (const sub of ['exec?command=sh', 'attach', 'portforward']) {
    assert.equal(detect('POST', `/api/v1/namespaces/kube-system/pods/etcd-0/${sub}`)?.category, 'interactive', sub);
    assert.equal(detect('GET', `/api/v1/namespaces/kube-system/pods/etcd-0/${sub}`)?.category, 'interactive', `upgraded ${sub}`);
    assert.equal(detect('POST', `/api/v1/namespaces/payments/pods/web-0/${sub}`), undefined, sub);
  }
  assert.equal(detect('GET', '/api/v1/namespaces/kube-system/pods/etcd-0/log'), undefined);
  assert.match(detect('GET', '/api/v1/nodes/n1/proxy/run/a/b')!.reason, /kubelet API of node n1/);
});

test('minted credentials and approved certificates are escalations', () => {
  assert.match(detect('POST', '/api/v1/namespaces/a/serviceaccounts/builder/token', { kind: 'TokenRequest', spec: {} })!.reason, /token for service account builder/);
  assert.match(detect('PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', { status: {} })!.reason, /approves certificate signing request csr-1/);
  assert.equal(detect('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', { spec: {} }), undefined);
  assert.match(detect('POST', '/api/v1/namespaces/a/secrets', { kind: 'Secret', type: 'kubernetes.io/service-account-token' })!.reason, /service account token Secret/);
  assert.equal(detect('POST', '/api/v1/namespaces/a/secrets', { kind: 'Secret', type: 'Opaque', data: {} }), undefined);
});

test('plain reads and non-resource requests are never escalations', () => {
  assert.equal(detect('GET', '/api/v1/namespaces/kube-system/secrets'), undefined);
  assert.equal(detect('GET', '/version'), undefined);
  assert.equal(detect('POST', '/api/v1/namespaces/a/configmaps', { data: { privileged: 'true' } }), undefined);
});

test('a pod holding the token of another service account than default is an escalation, unless it mounts none', () => {
  const pods = '/api/v1/namespaces/a/pods';
  const deployment = '/apis/apps/v1/namespaces/a/deployments/web';
  const template = (spec: Record<string, unknown>) => ({ spec: { template: { spec } } });
  const projected = { volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] };
  assertSent([
    ['POST', pods, pod({ serviceAccountName: 'builder' }), /^pod runs as service account builder with its token$/],
    ['POST', pods, pod({ serviceAccount: 'builder' }), /service account builder/],
    ['POST', pods, pod({ serviceAccountName: 'builder', automountServiceAccountToken: true }), /service account builder/],
    ['POST', pods, pod({ serviceAccountName: 'builder', automountServiceAccountToken: false, ...projected }), /service account builder/],
    ['POST', pods, pod({ serviceAccountName: 'builder', automountServiceAccountToken: false }), undefined],
    ['POST', pods, pod({ serviceAccountName: 'default', ...projected }), undefined],
    ['POST', '/apis/batch/v1/namespaces/a/cronjobs', { spec: { jobTemplate: template({ serviceAccountName: 'builder' }) } }, /^cronjob template runs as service account builder/],
    ['POST', '/api/v1/namespaces/a/podtemplates', { template: { spec: { serviceAccountName: 'builder' } } }, /^podtemplate template runs as service account builder/],
    // a patch does not show the rest of the pod: which account a token belongs to, whether a projection mounts it
    ['PATCH', deployment, template({ serviceAccountName: 'builder', automountServiceAccountToken: false }), /service account builder/],
    ['PATCH', deployment, template({ automountServiceAccountToken: null }), /mount the token of a service account the request does not show/],
    ['PATCH', deployment, template({ automountServiceAccountToken: true }), /mount the token/],
    ['PATCH', deployment, template({ automountServiceAccountToken: false }), undefined],
    ['PATCH', deployment, template(projected), /projects the token/],
    ['PATCH', deployment, template({ serviceAccountName: 'default' }), undefined],
  ]);
  assert.match(detect('PATCH', deployment, [{ op: 'remove', path: '/spec/template/spec/automountServiceAccountToken' }])!.reason, /mount the token/);
  assert.match(detect('PATCH', deployment, [{ op: 'replace', path: '/spec/template/spec/serviceAccountName', value: 'builder' }])!.reason, /service account builder/);
});

test('capabilities beyond the baseline set are escalations, whatever their name', () => {
  const url = '/api/v1/namespaces/a/pods';
  const adding = (add: string[]) => pod({ containers: [{ name: 'c', securityContext: { capabilities: { add } } }] });
  const beyond = ['DAC_READ_SEARCH', 'SYS_RAWIO', 'BPF', 'PERFMON', 'SYS_PTRACE', 'SYS_MODULE', 'SYS_ADMIN', 'NET_ADMIN', 'ALL', 'SYS_TIME', 'NET_RAW', 'NOT_A_CAPABILITY_YET'];
  assertSent([
    ...beyond.map((cap): [string, string, unknown, RegExp] => ['POST', url, adding(['CHOWN', cap]), new RegExp(`^pod adds capability ${cap}$`)]),
    ['POST', url, adding(['cap_dac_read_search']), /capability DAC_READ_SEARCH$/],
    ['POST', url, adding(['CHOWN', 'cap_kill', 'NET_BIND_SERVICE', 'SETUID', 'SYS_CHROOT']), undefined],
    ['PATCH', '/apis/apps/v1/namespaces/a/daemonsets/d', { spec: { template: { spec: { containers: [{ name: 'c', securityContext: { capabilities: { add: ['BPF'] } } }] } } } }, /daemonset template adds capability BPF/],
  ]);
});

test('an unmasked /proc is an escalation', () => {
  const url = '/api/v1/namespaces/a/pods';
  assertSent([
    ['POST', url, pod({ containers: [{ name: 'c', securityContext: { procMount: 'Unmasked' } }] }), /^pod requests an unmasked \/proc$/],
    ['POST', url, pod({ containers: [{ name: 'c', securityContext: { procMount: 'Default' } }] }), undefined],
  ]);
});

test('an ephemeral container mounting any pod volume is an escalation: the pod volumes it may reach are not in the request', () => {
  const url = '/api/v1/namespaces/a/pods/p/ephemeralcontainers';
  const ephemeral = (container: Record<string, unknown>) => ({ spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox', ...container }] } });
  assertSent([
    ['PATCH', url, ephemeral({ volumeMounts: [{ name: 'host-etc', mountPath: '/host' }] }), /^pod adds an ephemeral container mounting pod volume host-etc, which may be a hostPath$/],
    ['PATCH', url, ephemeral({ volumeDevices: [{ name: 'disk', devicePath: '/dev/xvda' }] }), /mounting pod volume disk/],
    ['PATCH', url, ephemeral({ targetContainerName: 'c' }), undefined],
    // the subresource takes only the ephemeral containers of a PUT body: its volumes and service account settings are no guide
    ['PUT', url, { ...(pod({ volumes: [{ name: 'v', emptyDir: {} }] }) as object), ...ephemeral({ volumeMounts: [{ name: 'v', mountPath: '/v' }] }) }, /mounting pod volume v/],
    ['PUT', url, pod({ serviceAccountName: 'builder', automountServiceAccountToken: false }), /service account builder/],
  ]);
  assert.match(detect('PATCH', url, [{ op: 'add', path: '/spec/ephemeralContainers/-', value: { name: 'd', volumeMounts: [{ name: 'root', mountPath: '/r' }] } }])!.reason, /mounting pod volume root/);
  assert.match(detect('PATCH', url, [{ op: 'add', path: '/spec/ephemeralContainers/0/volumeMounts/-', value: { name: 'root', mountPath: '/r' } }])!.reason, /mounting pod volume root/);
});

test('a service account token Secret is an escalation in any encoding; a Secret body that cannot be read fails closed', () => {
  const url = '/api/v1/namespaces/a/secrets';
  const tokenSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', annotations: { 'kubernetes.io/service-account.name': 'builder' } }, type: 'kubernetes.io/service-account-token' };
  assertSent([
    ['POST', url, tokenSecret, /^the request creates a service account token Secret$/],
    // server-side apply creates what does not exist
    ['PATCH', `${url}/s`, tokenSecret, /service account token Secret/],
    ['POST', url, { ...tokenSecret, type: 'Opaque', stringData: { a: 'b' } }, undefined],
    ['PATCH', `${url}/s`, { stringData: { a: 'b' } }, undefined],
  ]);
  assert.match(detect('PATCH', `${url}/s`, [{ op: 'add', path: '/type', value: 'kubernetes.io/service-account-token' }])!.reason, /service account token Secret/);
  for (const [contentType, bytes] of [['application/vnd.kubernetes.protobuf', Buffer.from([0x6b, 0x38, 0x73, 0x00])], ['application/yaml', Buffer.from('type: kubernetes.io/service-account-token\ntype: Opaque\n')]] as const) {
    const found = detectEscalation(parseRequestAttributes('POST', url), readObject(contentType, bytes));
    assert.match(found?.reason ?? '(none)', /create of a Secret with a body that cannot be inspected/, contentType);
  }
});

test('YAML is read as the API server reads it (YAML 1.1): a body read otherwise under YAML 1.2, or with duplicate keys, fails closed', () => {
  const url = '/api/v1/namespaces/a/pods';
  const yamlPod = (line: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  ${line}\n  containers:\n  - name: c\n    image: nginx\n`;
  const cases: [string, RegExp | undefined][] = [
    ['hostNetwork: true', /^pod requests hostNetwork$/],
    ['serviceAccountName: builder', /service account builder/],
    ['hostNetwork: false', undefined],
    ['hostNetwork: "yes"', undefined],
    // true under YAML 1.1, a string under 1.2: never read as the harmless string
    ['hostNetwork: yes', /cannot be inspected/],
    ['hostPID: on', /cannot be inspected/],
    ['hostIPC: Y', /cannot be inspected/],
    ['hostNetwork: !!bool yes', /cannot be inspected/],
    ['hostNetwork: false\n  hostNetwork: true', /cannot be inspected/],
  ];
  for (const [line, reason] of cases) {
    const found = detectSent('POST', url, 'yaml', yamlPod(line));
    if (reason) assert.match(found?.reason ?? '(none)', reason, line);
    else assert.equal(found, undefined, line);
  }
  const privilegedYes = 'spec:\n  containers:\n  - name: c\n    securityContext:\n      privileged: yes\n';
  assert.equal(detectSent('POST', url, 'yaml', privilegedYes)?.category, 'workload', 'privileged: yes is not missed');
});

test('invariant 10: a JSON patch path through __proto__ or constructor changes no object but the patch it describes', () => {
  const ops = [
    { op: 'add', path: '/__proto__/escalation', value: true },
    { op: 'add', path: '/constructor/prototype/escalation', value: true },
  ];
  detectEscalation(parseRequestAttributes('PATCH', '/api/v1/namespaces/a/pods/web'), ops);
  assert.equal(({} as Record<string, unknown>)['escalation'], undefined, 'Object.prototype is untouched');
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'escalation'), false);
});
