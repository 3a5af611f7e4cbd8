/**
 * Where the gateway spools recordings when not told: a per-user state directory, never the directory it
 * starts from; in a cluster, the Deployment the operator writes names the pod's own spool volume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSpoolDir } from '../../src/cli/gateway.js';
import { desiredDeployment } from '../../src/operator/gateway-children.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { SessionPolicy } from '../../src/api/index.js';

test('the default spool is under $XDG_STATE_HOME when it is absolute, else under ~/.local/state', () => {
  assert.equal(defaultSpoolDir({ XDG_STATE_HOME: '/var/lib/alice-state' }, '/home/alice'), '/var/lib/alice-state/kubegate/spool');
  assert.equal(defaultSpoolDir({}, '/home/alice'), '/home/alice/.local/state/kubegate/spool');
  assert.equal(defaultSpoolDir({ XDG_STATE_HOME: '' }, '/home/alice'), '/home/alice/.local/state/kubegate/spool', 'empty counts as unset');
  assert.equal(defaultSpoolDir({ XDG_STATE_HOME: 'state' }, '/home/alice'), '/home/alice/.local/state/kubegate/spool', 'a relative path is ignored, as the XDG spec says');
});

test("in a cluster the gateway's spool is the pod's spool volume", () => {
  const policy = { apiVersion: 'kubegate.dev/v1alpha1', kind: 'SessionPolicy', metadata: { namespace: 'kubegate-system', name: 'prod' }, spec: {} } as SessionPolicy;
  const deployment = desiredDeployment(policy, compilePolicy({ namespace: 'kubegate-system', name: 'prod' }, {}), 'kubegate:test');
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  const spoolDir = container.args!.find((arg) => arg.startsWith('--spool-dir='))?.slice('--spool-dir='.length);
  assert.equal(spoolDir, '/var/spool/kubegate');
  const mount = container.volumeMounts!.find((m) => m.mountPath === spoolDir);
  assert.ok(mount, 'the spool directory is a mounted volume, writable under a read-only root');
  assert.ok(pod.volumes!.find((v) => v.name === mount.name)?.emptyDir);
});
