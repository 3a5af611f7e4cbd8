/** UnchangedApply: a child is sent again only when it would change (see unchanged-apply.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { KubeClients } from '../../src/kube/client.js';
import { UnchangedApply } from '../../src/operator/unchanged-apply.js';

/** An API server of one resourceVersion counter, and an informer store the test moves by hand. */
function fixture() {
  let version = 100;
  const applied: string[] = [];
  const store = new Map<string, k8s.KubernetesObject>();
  const clients = {
    objects: {
      apply: async (object: k8s.KubernetesObject) => {
        applied.push(object.metadata!.name!);
        return { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } };
      },
    },
  } as unknown as KubeClients;
  const children = new UnchangedApply(clients, (kind) => (kind === 'ConfigMap' ? { get: (key: string) => store.get(key) } : undefined));
  /** The informer catches up: it now holds `object` at `resourceVersion`. */
  const observe = (object: k8s.KubernetesObject, resourceVersion = String(version)) => {
    const seen = { ...object, metadata: { ...object.metadata, resourceVersion } };
    store.set(`${object.metadata!.namespace}/${object.metadata!.name}`, seen);
    return seen;
  };
  return { children, applied, observe, bump: () => String(++version) };
}

const configMap = (data: string): k8s.V1ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'policy', namespace: 'ns' }, data: { 'policy.json': data } });

test('an object the informer shows as last applied is not applied again', async () => {
  const { children, applied, observe } = fixture();
  assert.equal(await children.apply(configMap('v1')), true, 'nothing remembered: applied');
  assert.equal(await children.apply(configMap('v1')), true, 'the informer has not seen it yet: applied');
  const own = observe(configMap('v1'));
  assert.equal(children.isOwnLastApply(own), true, 'its watch event is our own apply');
  assert.equal(await children.apply(configMap('v1')), false);
  assert.deepEqual(applied, ['policy', 'policy']);
});

test('a changed desired state, a change by someone else or a deletion is applied', async () => {
  const { children, applied, observe, bump } = fixture();
  await children.apply(configMap('v1'));
  observe(configMap('v1'));
  assert.equal(await children.apply(configMap('v2')), true, 'desired state changed');
  observe(configMap('v2'));
  const edited = observe(configMap('edited by hand'), bump());
  assert.equal(children.isOwnLastApply(edited), false, 'someone else wrote it');
  assert.equal(await children.apply(configMap('v2')), true, 'put back');
  assert.equal(applied.length, 3);
});

test('a kind without informer is always applied', async () => {
  const { children, applied } = fixture();
  const account: k8s.V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'gateway', namespace: 'ns' } };
  await children.apply(account);
  await children.apply(account);
  assert.equal(applied.length, 2);
});
