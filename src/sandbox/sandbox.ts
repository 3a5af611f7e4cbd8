/**
 * Starts every part of a sandbox in order — etcd, kube-apiserver, then the controllers, kwok and its node,
 * with MinIO, the minimal OIDC issuer and the real OpenID Provider alongside — and stops them in reverse. Runs inside the supervisor
 * process (see supervisor.ts); `control.ts` is the outside view.
 */
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { resolveBinaries, type Binaries } from './binaries.js';
import { prepareSandboxFiles } from './files.js';
import { freePort, waitUntil } from './network.js';
import { ManagedProcess, processStartTime } from './process.js';
import { serviceAccountIssuer, startApiserver, startControllerManager, startEtcd, startScheduler, waitHealthy, type ControlPlanePorts } from './control-plane.js';
import { installKwokResources, kwokNodeName, startKwok, waitNodeReady } from './kwok.js';
import { newS3Settings, startMinio, type S3Settings } from './minio.js';
import { addRolePolicies, allowIssuerDiscovery, openIdEnvironment, sandboxSts, waitStsReady, type SandboxSts } from './minio-iam.js';
import { oidcAudience, startOidcIssuer, type OidcIssuer } from './oidc-issuer.js';
import { apiServerClientId, gatewayClientId, startIdentityProvider, type IdentityProvider } from './identity-provider.js';
import { sandboxMarkerObject } from '../kube/sandbox-marker.js';

/** What a sandbox folder's `sandbox.json` says about the running sandbox. */
export interface SandboxState {
  dir: string;
  supervisor: { pid: number; startTime: string };
  startedAt: string;
  readyAfterMs: number;
  apiserver: { url: string; caFile: string; adminToken: string };
  kubeconfig: string;
  binaries: Binaries;
  oidc: { issuer: string; audience: string; signingKeyFile: string };
  /** The real OpenID Provider people log in at (identity-provider.ts): its clients, and the CA it serves with. */
  identityProvider: { issuer: string; gatewayClientId: string; apiServerClientId: string; caFile: string };
  s3: S3Settings;
  /** MinIO's STS and the roles a ServiceAccount token may assume (IRSA). */
  sts: SandboxSts;
  store: string;
  node: string;
  components: Array<{ name: string; pid: number; startTime: string; logFile: string }>;
}

export const stateFileName = 'sandbox.json';

export interface RunningSandbox {
  state: SandboxState;
  /** Resolves when any part exits on its own, naming it. */
  firstExit: Promise<string>;
  stop(): Promise<void>;
}

export async function startSandbox(dir: string, progress: (message: string) => void = () => {}): Promise<RunningSandbox> {
  const started = Date.now();
  const binaries = resolveBinaries();
  const ports: ControlPlanePorts & { kwok: number; minio: number; minioConsole: number; oidc: number; identityProvider: number } = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
    kwok: await freePort(),
    minio: await freePort(),
    minioConsole: await freePort(),
    oidc: await freePort(),
    identityProvider: await freePort(),
  };
  const prepared = await prepareSandboxFiles(dir, ports);
  const { files } = prepared;
  const processes: ManagedProcess[] = [];
  let oidc: OidcIssuer | undefined;
  let identityProvider: IdentityProvider | undefined;
  const stop = async () => {
    for (const process of [...processes].reverse()) await process.stop();
    await oidc?.close();
    await identityProvider?.close();
  };
  const track = <T extends ManagedProcess>(process: T) => (processes.push(process), process);

  try {
    oidc = await startOidcIssuer({ port: ports.oidc, tls: prepared.oidcTls, signingKeyPem: prepared.oidcSigningKeyPem });
    identityProvider = await startIdentityProvider({ port: ports.identityProvider, tls: prepared.identityProviderTls });
    const s3 = newS3Settings(ports.minio);
    const sts = sandboxSts(s3);
    const identity = { env: openIdEnvironment(serviceAccountIssuer(ports), sts), caPem: prepared.caPem };
    const minioReady = startMinio(binaries.minio, files, s3, ports.minioConsole, identity).then(track);
    progress('starting etcd');
    track(await startEtcd(binaries.etcd, files, ports));
    progress('starting kube-apiserver');
    track(await startApiserver(binaries['kube-apiserver'], files, ports, prepared.adminToken));

    const kubeconfig = new k8s.KubeConfig();
    kubeconfig.loadFromFile(files.path('kubeconfig'));
    await allowIssuerDiscovery(kubeconfig);
    progress('starting kube-controller-manager, kube-scheduler and kwok');
    const controllerManager = track(startControllerManager(binaries['kube-controller-manager'], files, ports));
    const scheduler = track(startScheduler(binaries['kube-scheduler'], files, ports));
    await installKwokResources(kubeconfig, files, binaries.kwokCrdDir);
    const kwok = track(startKwok(binaries.kwok, files, ports.kwok));
    const core = kubeconfig.makeApiClient(k8s.CoreV1Api);
    await Promise.all([
      waitNodeReady(kubeconfig, kwok),
      waitHealthy(controllerManager, ports.controllerManager),
      waitHealthy(scheduler, ports.scheduler),
      // pods cannot be admitted until the ServiceAccount controller has made the namespace's default account
      waitUntil('ServiceAccount default/default', async () => {
        try {
          await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
          return true;
        } catch {
          return 'not yet created';
        }
      }, { process: controllerManager }),
      // the mark that tells `kubegate replay --to` this cluster is a throwaway sandbox
      waitUntil('the sandbox marker in kube-public', async () => {
        try {
          await core.createNamespacedConfigMap({ namespace: 'kube-public', body: sandboxMarkerObject(files.dir, new Date(started).toISOString()) as k8s.V1ConfigMap });
          return true;
        } catch {
          return 'kube-public not yet created';
        }
      }),
      minioReady.then(async (minio) => {
        await addRolePolicies(minio, s3, sts);
        await waitStsReady(minio, sts);
      }),
    ]);

    const state: SandboxState = {
      dir: files.dir,
      supervisor: { pid: process.pid, startTime: processStartTime(process.pid) ?? '' },
      startedAt: new Date(started).toISOString(),
      readyAfterMs: Date.now() - started,
      apiserver: { url: `https://127.0.0.1:${ports.apiserver}`, caFile: files.pki('ca.crt'), adminToken: prepared.adminToken },
      kubeconfig: files.path('kubeconfig'),
      binaries,
      oidc: { issuer: oidc.url, audience: oidcAudience, signingKeyFile: files.pki('oidc-signing.key') },
      identityProvider: { issuer: identityProvider.url, gatewayClientId, apiServerClientId, caFile: files.pki('ca.crt') },
      s3,
      sts,
      store: `s3://${s3.bucket}/sandbox`,
      node: kwokNodeName,
      components: processes.map((p) => ({ name: p.name, pid: p.pid, startTime: processStartTime(p.pid) ?? '', logFile: p.logFile })),
    };
    writeFileSync(files.path(stateFileName), JSON.stringify(state, null, 2), { mode: 0o600 });
    const firstExit = Promise.race(processes.map((p) => p.whenExited().then(() => p.name)));
    return { state, firstExit, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The folder holding kubectl, for PATH. */
export function kubectlDir(state: SandboxState): string {
  return dirname(state.binaries.kubectl);
}
