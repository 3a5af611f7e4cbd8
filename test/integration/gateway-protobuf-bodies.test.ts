/**
 * kubectl 1.35 sends the bodies of its typed writes (`create deployment`, `create secret`, `debug`…) as
 * Kubernetes protobuf. Through the real gateway under a policy that sends escalations to a human, every
 * typed `kubectl create`, `run`, `expose` and `autoscale` goes through unless what it creates escalates,
 * and the recording holds each body as the JSON it means, Secret data masked (issue 10, item 12).
 */
import { test } from 'node:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../../src/pki/certificates.js';
import assert from 'node:assert/strict';
import { fixturePolicyRules, gatewayCall, gatewayFixture, recordedText, type GatewayFixture } from '../harness/gateway-fixture.js';
import { uniqueName } from '../harness/kubegate-objects.js';
import { podBody, podWithSecondSpec, privileged, twoToThe32 } from '../harness/protobuf-wire.js';
import type { RunningGateway } from '../harness/gateway.js';
import { eventually } from '../harness/workloads.js';

const setup = gatewayFixture({
  rules: [...fixturePolicyRules, { name: 'escalations-need-a-human', match: { escalation: true }, action: 'RequireApproval' }],
  // cluster-admin, so that only the gateway's escalation rule can stop a command
  access: () => [{ clusterRole: 'cluster-admin' }],
});

const unique = uniqueName('pb');
/** Where the first test writes a certificate and key for `create secret tls`. */
const tls = mkdtempSync(join(tmpdir(), 'kubegate-tls-'));

/** kubectl commands (run with `-n <target>`) that create nothing stronger than the grant: never held. */
const allowed: string[][] = [
  ['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '--port=80'],
  ['create', 'configmap', 'settings', '--from-literal=mode=fast'],
  ['create', 'secret', 'generic', 'db', '--from-literal=password=hunter2'],
  ['create', 'secret', 'docker-registry', 'pull', '--docker-server=registry.example', '--docker-username=u', '--docker-password=p4ssw0rd'],
  ['create', 'secret', 'tls', 'site-tls', `--cert=${join(tls, 'tls.crt')}`, `--key=${join(tls, 'tls.key')}`],
  ['create', 'service', 'clusterip', 'api', '--tcp=80:8080'],
  ['create', 'service', 'nodeport', 'edge', '--tcp=443:8443'],
  ['create', 'service', 'loadbalancer', 'lb', '--tcp=80:8080'],
  ['create', 'service', 'externalname', 'ext', '--external-name=example.com'],
  ['create', 'job', 'once', '--image=busybox', '--', 'echo', 'hi'],
  ['create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/5 * * * *'],
  ['create', 'job', 'from-tick', '--from=cronjob/tick'],
  ['create', 'role', 'reader', '--verb=get,list', '--resource=pods'],
  ['create', 'rolebinding', 'read-binding', '--role=reader', '--user=alice'],
  ['create', 'clusterrole', `${unique}-nodes`, '--verb=get', '--resource=nodes'],
  ['create', 'clusterrolebinding', `${unique}-view`, '--clusterrole=view', '--user=alice'],
  ['create', 'serviceaccount', 'bot'],
  ['create', 'quota', 'limits', '--hard=count/jobs.batch=10,requests.storage=10Gi'],
  ['create', 'priorityclass', `${unique}-urgent`, '--value=1000'],
  ['create', 'poddisruptionbudget', 'web-pdb', '--selector=app=web', '--min-available=1'],
  ['create', 'ingress', 'site', '--rule=example.com/api=api:80'],
  ['create', 'namespace', `${unique}-ns`],
  ['run', 'shell', '--image=busybox', '--labels=app=shell', '--', 'sleep', '3600'],
  ['expose', 'deployment', 'web', '--port=80', '--target-port=8080', '--name=web-svc'],
  ['autoscale', 'deployment', 'web', '--min=1', '--max=3', '--cpu=80%'],
];

/** kubectl commands whose object escalates, with the reason the gateway must have read from the body. */
const escalating: [string[], RegExp][] = [
  [['create', 'rolebinding', 'root', '--clusterrole=cluster-admin', '--user=alice'], /RoleBinding binds the powerful role cluster-admin/],
  [['create', 'clusterrolebinding', `${unique}-root`, '--clusterrole=cluster-admin', '--user=alice'], /ClusterRoleBinding binds the powerful role cluster-admin/],
  [['create', 'clusterrolebinding', `${unique}-all`, '--clusterrole=view', '--group=system:authenticated'], /binds view to system:authenticated/],
  [['create', 'role', 'everything', '--verb=*', '--resource=pods'], /Role grants the verb \*/],
  [['create', 'role', 'secret-reader', '--verb=get', '--resource=secrets'], /Role grants access to secrets/],
  [['create', 'secret', 'generic', 'minted', '--type=kubernetes.io/service-account-token'], /creates a service account token Secret/],
  [['run', 'root', '--image=busybox', '--privileged'], /pod requests a privileged container/],
  [['debug', 'node/kwok-node-0', '--image=busybox', '--profile=sysadmin'], /pod requests (a privileged container|hostNetwork|hostPID|hostIPC|hostPath volume \/)/],
  [['create', 'token', 'bot'], /mints a token for service account bot/],
];

interface RecordedRequest {
  type: 'request';
  method: string;
  path: string;
  contentType?: string;
  body?: string;
}

/** The parts of a recorded Secret or Deployment the test reads. */
interface Recorded {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { selector: unknown; template: { spec: { containers: { name: string; image: string }[] } } };
}

function recordedRequests(fixture: Pick<GatewayFixture, 'gateway'>): RecordedRequest[] {
  return recordedText(fixture.gateway)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string })
    .filter((event): event is RecordedRequest => event.type === 'request');
}

test('invariant 10: every typed kubectl create, run, expose and autoscale goes through a policy with an escalation rule', async () => {
  const fixture = await setup();
  const { bot, target } = fixture;
  const { certPem, keyPem } = await createCertificateAuthority('site.example');
  writeFileSync(join(tls, 'tls.crt'), certPem);
  writeFileSync(join(tls, 'tls.key'), keyPem);
  for (const args of allowed) {
    const result = await bot.run(['-n', target, ...args]);
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
  }
  // kubectl sent most of them as protobuf: the gateway read them (nothing was held as uninspectable)
  const protobuf = recordedRequests(fixture).filter((r) => r.method === 'POST' && r.contentType === 'application/vnd.kubernetes.protobuf');
  assert.ok(protobuf.length >= 20, `${protobuf.length} protobuf bodies`);
  for (const request of protobuf) assert.doesNotThrow(() => JSON.parse(request.body!), `${request.path}: ${request.body}`);
});

test('invariant 10: a typed kubectl write that escalates is held, for what its protobuf body says', async () => {
  const { bot, target } = await setup();
  for (const [args, reason] of escalating) {
    const result = await bot.run(['-n', target, ...args]);
    assert.notEqual(result.code, 0, `kubectl ${args.join(' ')} went through`);
    assert.match(result.stderr, /approval required by rule "escalations-need-a-human"/, `kubectl ${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, reason, `kubectl ${args.join(' ')}: ${result.stderr}`);
  }
});

test('invariant 9: protobuf bodies are recorded as the JSON they mean, Secret data masked', async () => {
  const fixture = await setup();
  const { bot, target } = fixture;
  await bot.ok(['create', 'secret', 'generic', 'recorded', '--from-literal=password=s3cr3t-in-protobuf', '-n', target]);
  await bot.ok(['create', 'deployment', 'recorded', '--image=registry.example/app:v7', '-n', target]);
  const body = (path: string) => {
    const request = recordedRequests(fixture).find((r) => r.method === 'POST' && r.path.startsWith(path) && r.body?.includes('"recorded"'));
    assert.ok(request, `no recorded request to ${path}`);
    assert.equal(request.contentType, 'application/vnd.kubernetes.protobuf');
    return JSON.parse(request.body!) as Recorded;
  };
  await eventually(async () => assert.ok(recordedText(fixture.gateway).includes('registry.example/app:v7')), 10_000);
  const secret = body(`/api/v1/namespaces/${target}/secrets`);
  assert.equal(secret.kind, 'Secret');
  assert.equal(secret.metadata.name, 'recorded');
  assert.ok(secret.data && 'password' in secret.data);
  const text = recordedText(fixture.gateway);
  assert.ok(!text.includes('s3cr3t-in-protobuf') && !text.includes(Buffer.from('s3cr3t-in-protobuf').toString('base64')), 'the Secret value reached the store in clear');
  // the first test's `create secret tls`: its private key neither
  const keyPem = readFileSync(join(tls, 'tls.key'), 'utf8');
  assert.ok(!text.includes(keyPem.split('\n')[1]!) && !text.includes(Buffer.from(keyPem).toString('base64').slice(0, 60)), 'the TLS key reached the store in clear');
  const deployment = body(`/apis/apps/v1/namespaces/${target}/deployments`);
  assert.deepEqual(deployment.spec?.selector, { matchLabels: { app: 'recorded' } });
  assert.deepEqual(deployment.spec?.template.spec.containers.map((c) => [c.name, c.image]), [['app', 'registry.example/app:v7']]);
});

test('invariant 10: a protobuf body the API server reads as privileged but a lenient reader would not is held as unreadable', async () => {
  const fixture = await setup();
  const { cluster, target, token } = fixture;
  const path = `/api/v1/namespaces/${target}/pods?dryRun=All`;
  const headers = { 'content-type': 'application/vnd.kubernetes.protobuf', accept: 'application/json' };
  const apiServer = { gateway: { url: cluster.state.apiserver.url } as RunningGateway, ca: readFileSync(cluster.state.apiserver.caFile, 'utf8') };
  const bodies = {
    'privileged as the varint 2^32': podBody('wide-bool', privileged(twoToThe32)),
    'a second spec merged into the first': podWithSecondSpec('merged', privileged(Buffer.from([1]))),
  };
  for (const [trick, body] of Object.entries(bodies)) {
    const direct = await gatewayCall(apiServer, path, { ...headers, authorization: `Bearer ${cluster.state.apiserver.adminToken}` }, { method: 'POST', body });
    assert.equal(direct.status, 201, `${trick}: ${direct.body}`);
    assert.equal(JSON.parse(direct.body).spec.containers[0].securityContext.privileged, true, `${trick}: the API server reads it as privileged`);
    const through = await gatewayCall(fixture, path, { ...headers, authorization: `Bearer ${token}` }, { method: 'POST', body });
    assert.equal(through.status, 403, `${trick}: ${through.body}`);
    assert.match(JSON.parse(through.body).message, /approval required by rule "escalations-need-a-human".*create of pods with a body that cannot be inspected/, trick);
  }
});
