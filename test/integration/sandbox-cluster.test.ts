/**
 * Proof that the sandbox is a real cluster: each test drives the running kube-apiserver, controllers,
 * kwok node and MinIO through the real kubectl or real clients, and checks what a user would see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { testCluster } from '../harness/cluster.js';
import { eventually, deploymentYaml, podNames } from '../harness/workloads.js';
import { forwardedLocalPort } from '../harness/kubectl.js';

test('a CRD becomes Established and its schema rejects a bad object with the API server message', async () => {
  const cluster = await testCluster();
  const kubectl = await cluster.kubectl();
  const group = `g${randomBytes(3).toString('hex')}.test.kubegate.dev`;
  await kubectl.ok(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 1 }, max: { type: 'integer' } },
                    'x-kubernetes-validations': [{ rule: '!has(self.max) || self.size <= self.max', message: 'size must not exceed max' }],
                  },
                },
              },
            },
          },
        ],
      },
    }),
  });
  await kubectl.ok(['wait', '--for=condition=Established', `crd/widgets.${group}`, '--timeout=30s']);
  const namespace = await cluster.namespace('crd');
  const widget = (spec: object) => JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w', namespace }, spec });

  const bad = await kubectl.run(['apply', '-f', '-'], { input: widget({ size: 0 }) });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/);
  const crossField = await kubectl.run(['apply', '-f', '-'], { input: widget({ size: 5, max: 2 }) });
  assert.notEqual(crossField.code, 0);
  assert.match(crossField.stderr, /size must not exceed max/);
  await kubectl.ok(['apply', '-f', '-'], { input: widget({ size: 2, max: 3 }) });
  assert.equal((await kubectl.ok(['get', `widgets.${group}`, 'w', '-n', namespace, '-o', 'jsonpath={.spec.size}'])).trim(), '2');
});

test('a user without a binding is forbidden, and allowed once a RoleBinding exists', async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('rbac');
  const user = `dev-${randomBytes(3).toString('hex')}`;
  const asUser = await cluster.kubectl({ user, groups: ['developers'] });
  const denied = await asUser.run(['get', 'pods', '-n', namespace]);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, new RegExp(`Forbidden.*User "${user}" cannot list resource "pods"`));

  const admin = await cluster.kubectl();
  await admin.ok(['create', 'rolebinding', 'dev-view', '--clusterrole=view', `--user=${user}`, '-n', namespace]);
  await eventually(async () => {
    const allowed = await asUser.run(['get', 'pods', '-n', namespace]);
    assert.equal(allowed.code, 0, allowed.stderr);
  });
  // the binding is scoped: another namespace stays forbidden
  assert.notEqual((await asUser.run(['get', 'pods', '-n', 'default'])).code, 0);
});

test('impersonation works for an identity allowed to impersonate and is forbidden otherwise', async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('imp');
  const suffix = randomBytes(3).toString('hex');
  const impersonator = `gateway-${suffix}`;
  const target = `bot-${suffix}`;
  const admin = await cluster.kubectl();
  await admin.ok(['create', 'clusterrole', `impersonate-${suffix}`, '--verb=impersonate', '--resource=users,groups', `--resource-name=${target}`, '--resource-name=bots']);
  await admin.ok(['create', 'clusterrolebinding', `impersonate-${suffix}`, `--clusterrole=impersonate-${suffix}`, `--user=${impersonator}`]);
  await admin.ok(['create', 'rolebinding', 'bot-view', '--clusterrole=view', `--user=${target}`, '-n', namespace]);

  const asImpersonator = await cluster.kubectl({ user: impersonator });
  await eventually(async () => {
    const result = await asImpersonator.run(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}', `--as=${target}`, '--as-group=bots']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, target);
  });
  // the impersonated identity's rights apply, not the impersonator's
  await asImpersonator.ok(['get', 'pods', '-n', namespace, `--as=${target}`]);
  assert.notEqual((await asImpersonator.run(['get', 'pods', '-n', namespace])).code, 0);
  // a name outside the allowed list is refused
  const other = await asImpersonator.run(['get', 'pods', '-n', namespace, '--as=someone-else']);
  assert.match(other.stderr, /cannot impersonate resource "users"/);
  // an identity without the impersonate verb is refused
  const plain = await cluster.kubectl({ user: `plain-${suffix}` });
  const refused = await plain.run(['get', 'pods', '-n', namespace, `--as=${target}`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(`User "plain-${suffix}" cannot impersonate resource "users"`));
});

test('a Deployment yields Running pods on the kwok node', async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('deploy');
  const kubectl = await cluster.kubectl();
  await kubectl.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('web', 3) });
  await kubectl.ok(['rollout', 'status', 'deployment/web', '-n', namespace, '--timeout=60s']);
  const pods = JSON.parse(await kubectl.ok(['get', 'pods', '-n', namespace, '-l', 'app=web', '-o', 'json'])) as k8s.V1PodList;
  assert.equal(pods.items.length, 3);
  for (const pod of pods.items) {
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.spec?.nodeName, cluster.state.node);
    // the ReplicaSet controller created it and the scheduler placed it
    assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
  }
});

/** kubectl -v=9 logs the 101 response's headers: which protocol the API server switched to. */
function upgradedTo(transport: 'WebSocket' | 'SPDY'): RegExp {
  return transport === 'SPDY' ? /status="101 Switching Protocols"[\s\S]*?Upgrade: SPDY\/3\.1/ : /status="101 Switching Protocols"[\s\S]*?Upgrade: websocket/;
}

for (const transport of ['WebSocket', 'SPDY'] as const) {
  test(`kubectl exec runs a command in a pod over ${transport}`, async () => {
    const cluster = await testCluster();
    const namespace = await cluster.namespace('exec');
    const kubectl = await cluster.kubectl();
    await kubectl.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('shell', 1) });
    await kubectl.ok(['rollout', 'status', 'deployment/shell', '-n', namespace, '--timeout=60s']);
    const [pod] = await podNames(kubectl, namespace, 'app=shell');
    const env: Record<string, string> = transport === 'SPDY' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {};
    const result = await kubectl.run(['exec', '-v=9', '-n', namespace, pod!, '--', 'sh', '-c', 'echo "hello $((6*7))"; echo oops >&2'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hello 42\n');
    assert.match(result.stderr, /^oops$/m);
    assert.match(result.stderr, upgradedTo(transport), 'kubectl negotiated the transport under test');
    // kwok reports a failed command as an error Status naming the exit status (it sends no exit code)
    const failing = await kubectl.run(['exec', '-n', namespace, pod!, '--', 'sh', '-c', 'exit 3'], { env });
    assert.notEqual(failing.code, 0);
    assert.match(failing.stderr, /exit status 3/);
    // stdin reaches the command (one line read: kwok does not pass stdin's end on to a local command)
    const stdin = await kubectl.run(['exec', '-i', '-n', namespace, pod!, '--', 'sh', '-c', 'read line; echo "$line" | tr a-z A-Z'], {
      env,
      input: 'shout\n',
    });
    assert.equal(stdin.stdout, 'SHOUT\n');
  });

  test(`kubectl port-forward reaches a local port over ${transport}`, async () => {
    const cluster = await testCluster();
    const namespace = await cluster.namespace('pf');
    const kubectl = await cluster.kubectl();
    await kubectl.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('api', 1) });
    await kubectl.ok(['rollout', 'status', 'deployment/api', '-n', namespace, '--timeout=60s']);
    const [pod] = await podNames(kubectl, namespace, 'app=api');
    const server = createServer((req, res) => res.end(`served ${req.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const localPort = (server.address() as AddressInfo).port;
    await kubectl.ok(['apply', '-n', namespace, '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'kwok.x-k8s.io/v1alpha1',
        kind: 'PortForward',
        metadata: { name: pod, namespace },
        spec: { forwards: [{ ports: [8080], target: { port: localPort, address: '127.0.0.1' } }] },
      }),
    });
    const env: Record<string, string> = transport === 'SPDY' ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {};
    const forward = kubectl.start(['port-forward', '-v=9', '-n', namespace, `pod/${pod}`, ':8080'], { env });
    let stderr = '';
    forward.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const port = await forwardedLocalPort(forward, 8080);
      await eventually(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/hello`);
        assert.equal(await response.text(), 'served /hello');
      });
      assert.match(stderr, upgradedTo(transport), 'kubectl negotiated the transport under test');
    } finally {
      forward.kill();
      server.close();
    }
  });
}

test('kubectl logs returns the pod log, also when following', async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('logs');
  const kubectl = await cluster.kubectl();
  await kubectl.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('worker', 1) });
  await kubectl.ok(['rollout', 'status', 'deployment/worker', '-n', namespace, '--timeout=60s']);
  const [pod] = await podNames(kubectl, namespace, 'app=worker');
  assert.match(await kubectl.ok(['logs', '-n', namespace, pod!]), /kwok pod started/);
  const follow = kubectl.start(['logs', '-f', '-n', namespace, pod!]);
  const firstLines = await new Promise<string>((resolve, reject) => {
    let out = '';
    follow.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('listening on :8080')) resolve(out);
    });
    follow.once('exit', (code) => reject(new Error(`logs -f exited ${code}`)));
  });
  follow.kill();
  assert.match(firstLines, /kwok pod started/);
});

test('deleting an owner garbage-collects its dependents', async () => {
  const cluster = await testCluster();
  const namespace = await cluster.namespace('gc');
  const kubectl = await cluster.kubectl();
  await kubectl.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('doomed', 2) });
  await kubectl.ok(['rollout', 'status', 'deployment/doomed', '-n', namespace, '--timeout=60s']);
  const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'dependent',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
      },
    },
  });
  await kubectl.ok(['delete', 'deployment/doomed', 'configmap/owner', '-n', namespace, '--wait=false']);
  await eventually(async () => {
    const workloads = await kubectl.ok(['get', 'replicasets,pods', '-n', namespace, '-o', 'name']);
    const dependent = await kubectl.ok(['get', 'configmap', 'dependent', '-n', namespace, '-o', 'name', '--ignore-not-found']);
    assert.equal(workloads.trim() + dependent.trim(), '');
  }, 60_000);
});
