/**
 * Reading kubectl's protobuf request bodies (issue 10, item 12): the bodies real kubectl 1.35 sends for
 * its typed writes (captured by scripts/capture-kubectl-bodies.mjs) decode to the object kubectl itself
 * prints as JSON for the same command; a body that could read differently on the API server (a field
 * sent twice, a field this schema does not know, another encoding) is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from '../../src/kube/kube-protobuf.js';
import { packageRoot } from '../../src/util/package-root.js';
import { envelope, field, podBody, podWithSecondSpec, privileged, twoToThe32 } from '../harness/protobuf-wire.js';

interface Captured {
  command: string;
  contentType: string;
  body: string;
  json: Record<string, unknown>;
}

const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test/unit/fixtures/kubectl-bodies.json'), 'utf8')) as { kubectl: string; captured: Captured[] };
const protobufBodies = fixture.captured.filter((c) => c.contentType === 'application/vnd.kubernetes.protobuf');
const body = (command: string) => Buffer.from(protobufBodies.find((c) => c.command.startsWith(command))!.body, 'base64');

/**
 * Go leaves zero values out of JSON (omitempty) but writes them on the protobuf wire, so the two forms
 * of one object differ only in empty strings, zeros, false, nulls and empty objects and lists.
 */
function withoutZeroValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutZeroValues);
  if (value === null || typeof value !== 'object') return value;
  const kept = Object.entries(value).map(([key, child]) => [key, withoutZeroValues(child)] as const);
  const isZero = (v: unknown) => v === '' || v === 0 || v === false || v === null || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v as object).length === 0);
  return Object.fromEntries(kept.filter(([, child]) => !isZero(child)));
}

test('the fixture holds kubectl 1.35 protobuf bodies of every typed create', () => {
  assert.match(fixture.kubectl, /^v1\.35\./);
  assert.ok(protobufBodies.length >= 18, `${protobufBodies.length} protobuf bodies`);
});

for (const captured of protobufBodies) {
  test(`${captured.command}: decodes to the object kubectl prints as JSON`, () => {
    const decoded = decodeKubernetesProtobuf(Buffer.from(captured.body, 'base64'));
    assert.deepEqual(withoutZeroValues(decoded), withoutZeroValues(captured.json));
  });
}

test('the special types read as their JSON: bytes as base64, IntOrString, Quantity, zero Time as null', () => {
  const secret = decodeKubernetesProtobuf(body('kubectl create secret generic')) as { data: Record<string, string>; metadata: { creationTimestamp: unknown } };
  assert.equal(Buffer.from(secret.data['password']!, 'base64').toString(), 'hunter2');
  assert.equal(secret.metadata.creationTimestamp, null);
  const service = decodeKubernetesProtobuf(body('kubectl create service nodeport')) as { spec: { ports: { port: number; targetPort: unknown }[] } };
  assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[443, 'https']]);
  const clusterIp = decodeKubernetesProtobuf(body('kubectl create service clusterip')) as { spec: { ports: { targetPort: unknown }[] } };
  assert.equal(clusterIp.spec.ports[0]!.targetPort, 8080);
  const quota = decodeKubernetesProtobuf(body('kubectl create quota')) as { spec: { hard: Record<string, unknown> } };
  assert.deepEqual(quota.spec.hard, { cpu: '1500m', memory: '1Gi', pods: '4' });
});

test('a hand-written Pod reads like kubectl\'s: privileged, a hostPath volume inlined as JSON has it', () => {
  const hostPathVolume = field(1, Buffer.concat([field(1, 'root'), field(2, field(1, field(1, '/etc')))]));
  assert.deepEqual(decodeKubernetesProtobuf(podBody('p', privileged(Buffer.from([1])), hostPathVolume)), {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a', image: 'busybox', securityContext: { privileged: true } }], volumes: [{ name: 'root', hostPath: { path: '/etc' } }] },
  });
});

test('a body the API server could read differently is refused: a field twice, an unknown field, a bool out of range, an overlong varint, bad UTF-8', () => {
  const twoContainers = decodeKubernetesProtobuf(podBody('p', privileged(Buffer.from([1])), field(2, field(1, 'b')))) as { spec: { containers: unknown[] } };
  assert.equal(twoContainers.spec.containers.length, 2, 'a repeated field may repeat');
  const refusals: [Buffer, RegExp][] = [
    // the spec again: Go merges it into the first (privileged stays), protobufjs would keep only the second
    [podWithSecondSpec('p', privileged(Buffer.from([1]))), /spec of Pod is sent twice/],
    [podBody('p', Buffer.concat([privileged(Buffer.from([1])), privileged(Buffer.from([0]))])), /privileged of SecurityContext is sent twice/],
    [podBody('p', Buffer.concat([privileged(Buffer.from([1])), field(99, 'x')])), /field 99 of SecurityContext is not in the schema/],
    // 2^32: true for Go (any non-zero uint64), false for a 32-bit reader
    [podBody('p', privileged(twoToThe32)), /a bool out of range/],
    [podBody('p', privileged(Buffer.from([0x81, 0x00]))), /longer than it needs/],
    [envelope('v1', 'Pod', field(1, field(1, Buffer.from([0x63, 0xff])))), /invalid|encoded data/i],
  ];
  for (const [body, reason] of refusals) assert.throws(() => decodeKubernetesProtobuf(body), reason);
});

test('what is not one object of a known built-in kind is refused', () => {
  assert.throws(() => decodeKubernetesProtobuf(Buffer.from('{"kind":"Pod"}')), /magic/);
  const deployment = body('kubectl create deployment');
  const renamed = Buffer.from(deployment.toString('latin1').replace('Deployment', 'Deploymenx'), 'latin1');
  assert.throws(() => decodeKubernetesProtobuf(renamed), /no built-in kind Deploymenx in apps\/v1/);
  assert.throws(() => decodeKubernetesProtobuf(deployment.subarray(0, deployment.length - 3)));
});

test('the content type is matched without its parameters', () => {
  assert.ok(isKubernetesProtobuf('application/vnd.kubernetes.protobuf'));
  assert.ok(isKubernetesProtobuf('application/vnd.kubernetes.protobuf; charset=binary'));
  assert.ok(!isKubernetesProtobuf('application/json'));
  assert.ok(!isKubernetesProtobuf(undefined));
});
