/**
 * The escalation class is judged from the request alone: RBAC that binds or grants strong rights, the
 * escalating verbs, pods that reach the node (directly or through a workload template, in a create or a
 * patch), interactive access to kube-system, minted tokens and approved certificates — and anything
 * that would need inspecting but cannot be, fails closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectEscalation } from '../../src/gateway/escalation.js';
import { parseRequestAttributes, type RequestAttributes } from '../../src/gateway/request-attributes.js';

const rbac = '/apis/rbac.authorization.k8s.io/v1';

function detect(method: string, url: string, body?: unknown) {
  return detectEscalation(parseRequestAttributes(method, url), body);
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
