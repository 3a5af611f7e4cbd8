/**
 * Where the sandbox finds the real programs it runs. Order, per binary: `KUBEGATE_BIN_<NAME>` (e.g.
 * KUBEGATE_BIN_KUBE_APISERVER), then `KUBEBUILDER_ASSETS/<name>` (envtest's etcd, kube-apiserver,
 * kubectl), then the version-keyed cache that scripts/build-test-binaries.sh fills. The older kubectl
 * minors the gateway is tested with come from that cache alone.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

const binaryNames = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
  'minio',
] as const;
export type BinaryName = (typeof binaryNames)[number];

export type Binaries = Record<BinaryName, string> & { kwokCrdDir: string };

/** The versions pinned in scripts/testbin-versions.env. */
export function testBinaryVersions(): Record<string, string> {
  const text = readFileSync(join(packageRoot(), 'scripts', 'testbin-versions.env'), 'utf8');
  const versions: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (match) versions[match[1]!] = match[2]!;
  }
  return versions;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KUBEGATE_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kubegate');
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function resolveBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const versions = testBinaryVersions();
  const bin = join(cacheDir(env), 'bin');
  const cached: Record<BinaryName, string> = {
    etcd: join(bin, `kubernetes-${versions.KUBERNETES_VERSION}`, 'etcd'),
    'kube-apiserver': join(bin, `kubernetes-${versions.KUBERNETES_VERSION}`, 'kube-apiserver'),
    'kube-controller-manager': join(bin, `kubernetes-${versions.KUBERNETES_VERSION}`, 'kube-controller-manager'),
    'kube-scheduler': join(bin, `kubernetes-${versions.KUBERNETES_VERSION}`, 'kube-scheduler'),
    kubectl: join(bin, `kubernetes-${versions.KUBERNETES_VERSION}`, 'kubectl'),
    kwok: join(bin, `kwok-${versions.KWOK_VERSION}`, 'kwok'),
    minio: join(bin, `minio-${versions.MINIO_VERSION}`, 'minio'),
  };
  const missing: string[] = [];
  const found = {} as Record<BinaryName, string>;
  for (const name of binaryNames) {
    const explicit = env[`KUBEGATE_BIN_${name.toUpperCase().replaceAll('-', '_')}`];
    const candidates = [explicit, env.KUBEBUILDER_ASSETS && join(env.KUBEBUILDER_ASSETS, name), cached[name]];
    const path = candidates.find((candidate): candidate is string => !!candidate && executable(candidate));
    if (path) found[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new Error(
      `missing test binaries: ${missing.join(', ')}; build them with 'bash scripts/build-test-binaries.sh' ` +
        `or point KUBEBUILDER_ASSETS / KUBEGATE_BIN_<NAME> at your own`,
    );
  }
  return { ...found, kwokCrdDir: join(bin, `kwok-${versions.KWOK_VERSION}`, 'crds') };
}

/** The kubectl versions the gateway is tested with, oldest first: KUBECTL_EXTRA_VERSIONS and the sandbox's own. */
export function testedKubectlVersions(): string[] {
  const versions = testBinaryVersions();
  const all = [...(versions.KUBECTL_EXTRA_VERSIONS ?? '').split(',').filter(Boolean), versions.KUBERNETES_VERSION!];
  return all.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** The kubectl of one tested version: the sandbox's own for its version (as resolveBinaries finds it), else the cache's. */
export function kubectlBinary(version: string, env: NodeJS.ProcessEnv = process.env): string {
  if (version === testBinaryVersions().KUBERNETES_VERSION) return resolveBinaries(env).kubectl;
  const path = join(cacheDir(env), 'bin', `kubectl-${version}`, 'kubectl');
  if (!executable(path)) throw new Error(`missing test binary: kubectl ${version} (${path}); build it with 'bash scripts/build-test-binaries.sh'`);
  return path;
}
