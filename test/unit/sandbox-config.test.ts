import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cacheDir, kubectlBinary, resolveBinaries, testBinaryVersions, testedKubectlVersions } from '../../src/sandbox/binaries.js';
import { envExports } from '../../src/sandbox/control.js';
import { minioRoleArn, sandboxSts } from '../../src/sandbox/minio-iam.js';
import { kubeconfigYaml } from '../../src/kube/kubeconfig-yaml.js';
import { processStartTime } from '../../src/sandbox/process.js';
import type { SandboxState } from '../../src/sandbox/sandbox.js';

function fakeBinaries(dir: string, names: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const name of names) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
}

test('binaries resolve from explicit variables, then KUBEBUILDER_ASSETS, then the version-keyed cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'kubegate-bins-'));
  const versions = testBinaryVersions();
  const cache = join(root, 'cache');
  fakeBinaries(join(cache, 'bin', `kubernetes-${versions.KUBERNETES_VERSION}`), ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl']);
  fakeBinaries(join(cache, 'bin', `kwok-${versions.KWOK_VERSION}`), ['kwok']);
  fakeBinaries(join(cache, 'bin', `minio-${versions.MINIO_VERSION}`), ['minio']);
  fakeBinaries(join(root, 'envtest'), ['etcd', 'kube-apiserver']);
  fakeBinaries(join(root, 'mine'), ['kube-apiserver']);

  const env = { KUBEGATE_CACHE_DIR: cache, KUBEBUILDER_ASSETS: join(root, 'envtest'), KUBEGATE_BIN_KUBE_APISERVER: join(root, 'mine', 'kube-apiserver') };
  const binaries = resolveBinaries(env);
  assert.equal(binaries['kube-apiserver'], join(root, 'mine', 'kube-apiserver'));
  assert.equal(binaries.etcd, join(root, 'envtest', 'etcd'));
  assert.equal(binaries.kubectl, join(cache, 'bin', `kubernetes-${versions.KUBERNETES_VERSION}`, 'kubectl'));
  assert.equal(binaries.minio, join(cache, 'bin', `minio-${versions.MINIO_VERSION}`, 'minio'));

  assert.throws(() => resolveBinaries({ KUBEGATE_CACHE_DIR: join(root, 'empty') }), /missing test binaries: etcd, kube-apiserver.*build-test-binaries\.sh/);
  assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), '/x/kubegate');
});

test('the build script and the sandbox read the same pinned versions', () => {
  const versions = testBinaryVersions();
  assert.match(versions.KUBERNETES_VERSION!, /^v1\.3\d+\.\d+$/);
  assert.match(versions.KWOK_VERSION!, /^v\d+\.\d+\.\d+$/);
  assert.ok(versions.MINIO_VERSION);
});

test('the kubectl minors the gateway is tested with: 1.29 (SPDY exec), 1.30 (SPDY port-forward), 1.32, the sandbox\'s own and 1.37 (the newest), oldest first, each from its cache folder', () => {
  const versions = testedKubectlVersions();
  assert.deepEqual(versions.map((version) => /^v1\.(\d+)\.\d+$/.exec(version)?.[1]), ['29', '30', '32', testBinaryVersions().KUBERNETES_VERSION!.split('.')[1], '37']);
  const root = mkdtempSync(join(tmpdir(), 'kubegate-kubectls-'));
  fakeBinaries(join(root, 'bin', `kubectl-${versions[0]}`), ['kubectl']);
  assert.equal(kubectlBinary(versions[0]!, { KUBEGATE_CACHE_DIR: root }), join(root, 'bin', `kubectl-${versions[0]}`, 'kubectl'));
  assert.throws(() => kubectlBinary(versions[1]!, { KUBEGATE_CACHE_DIR: root }), new RegExp(`missing test binary: kubectl ${versions[1]}.*build-test-binaries\\.sh`));
});

test('kubeconfigs embed the CA and the credential', () => {
  const config = parse(kubeconfigYaml({ server: 'https://127.0.0.1:6443', caPem: 'CA', user: { token: 't0k' } }));
  assert.equal(config.clusters[0].cluster.server, 'https://127.0.0.1:6443');
  assert.equal(Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), 'CA');
  assert.equal(config.users[0].user.token, 't0k');
  assert.equal(config['current-context'], config.contexts[0].name);
  const cert = parse(kubeconfigYaml({ server: 's', caPem: 'CA', user: { certPem: 'C', keyPem: 'K' } }));
  assert.equal(Buffer.from(cert.users[0].user['client-key-data'], 'base64').toString(), 'K');
});

test('env exports survive shell quoting', () => {
  const state = {
    kubeconfig: "/tmp/it's here/kubeconfig",
    s3: { endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 's$cret', bucket: 'b' },
    store: 's3://b/sandbox',
    sts: sandboxSts({ endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 's$cret', bucket: 'b' }),
    binaries: { kubectl: '/opt/k 8s/kubectl' },
  } as unknown as SandboxState;
  const out = execFileSync('bash', ['-c', `${envExports(state)}\nprintf '%s\\n' "$KUBECONFIG" "$AWS_SECRET_ACCESS_KEY" "$KUBEGATE_STORE" "\${PATH%%:*}"`], {
    encoding: 'utf8',
  });
  assert.deepEqual(out.trim().split('\n'), ["/tmp/it's here/kubeconfig", 's$cret', 's3://b/sandbox', '/opt/k 8s']);
});

test('process start times identify a process and are absent for a dead one', () => {
  const own = processStartTime(process.pid);
  assert.match(own ?? '', /^\d+$/);
  assert.equal(processStartTime(process.pid), own);
  assert.equal(processStartTime(2 ** 22 + 1), undefined);
});

test("MinIO's role ARN for an OpenID configuration is its client id's SHA-1 in base64url, under its region", () => {
  // as minio internal/config/identity/openid/openid.go derives it (checked against a running MinIO's STS)
  assert.equal(minioRoleArn('sts.amazonaws.com', 'us-east-1'), 'arn:minio:iam:us-east-1::role/oxnUw3DAuQF1uggjXGxI2AmW8IA');
  const roles = sandboxSts({ endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 's', bucket: 'b' }).roles;
  assert.equal(new Set(Object.values(roles).map((r) => r.audience)).size, 3, 'MinIO refuses two OpenID configurations with one client id');
});
