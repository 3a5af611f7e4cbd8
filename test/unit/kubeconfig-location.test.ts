/**
 * Where a grant's kubeconfig is kept (src/api/names.ts, `kubeconfigLocation`): a ServiceAccount's in its
 * own namespace under the name the grant asks for; a user's or group's in the operator's namespace, under
 * a name the requester cannot choose, readable by that subject alone. Invariant 12.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeconfigLocation, personalKubeconfigSecretName } from '../../src/api/names.js';

const grant = (subject: Parameters<typeof kubeconfigLocation>[0]['spec']['subject'], kubeconfigSecret?: string) => ({
  metadata: { namespace: 'team-a', name: 'deploy' },
  spec: { subject, ...(kubeconfigSecret ? { kubeconfigSecret } : {}) },
});

test("invariant 12: a ServiceAccount subject's kubeconfig is in the ServiceAccount's namespace, named by the grant", () => {
  const subject = { kind: 'ServiceAccount' as const, namespace: 'bots', name: 'builder' };
  assert.deepEqual(kubeconfigLocation(grant(subject, 'builder-kubeconfig'), 'kubegate-system'), { namespace: 'bots', name: 'builder-kubeconfig' });
  assert.deepEqual(kubeconfigLocation(grant(subject), 'kubegate-system'), { namespace: 'bots', name: 'deploy-kubeconfig' });
});

test("invariant 12: a user's or group's kubeconfig is in the operator's namespace, readable by that subject, whatever spec.kubeconfigSecret says", () => {
  for (const kind of ['User', 'Group'] as const) {
    const location = kubeconfigLocation(grant({ kind, name: 'ops' }, 'kubegate-token-signing'), 'kubegate-system');
    assert.deepEqual(location, { namespace: 'kubegate-system', name: 'kubeconfig.team-a.deploy', reader: { kind, name: 'ops' } });
  }
});

test('the names of personal kubeconfigs are distinct per grant and stay valid Secret names', () => {
  // a namespace name has no dot, so namespace "a" with grant "b-c" and namespace "a-b" with grant "c" differ
  assert.notEqual(personalKubeconfigSecretName('a', 'b-c'), personalKubeconfigSecretName('a-b', 'c'));
  const long = personalKubeconfigSecretName('n'.repeat(63), 'g'.repeat(253));
  assert.ok(long.length <= 253);
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  assert.notEqual(long, personalKubeconfigSecretName('n'.repeat(63), 'h'.repeat(253)));
});
