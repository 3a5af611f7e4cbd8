/**
 * The world the gateway bench runs in, on a sandbox of its own: one SessionPolicy with its real gateway
 * process (recording on, as its ServiceAccount with the operator-given RBAC), one Active grant, a direct
 * user with the same rights bound directly, a Go peer impersonating the grant's identity with the
 * gateway's own ServiceAccount token, `kubectl proxy` as the direct user, and the data: small ConfigMaps for GET/LIST latency, ~100 KB ones
 * for a ~50 MB LIST, and one kwok pod whose port-forward target is a local byte source.
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { grantGroup, impersonatedUser } from '../../src/api/identity.js';
import { recorderDefaults } from '../../src/recording/recorder.js';
import type { TestCluster } from '../../test/harness/cluster.js';
import { jitKubeconfig, startGateway, type RunningGateway } from '../../test/harness/gateway.js';
import { Kubectl } from '../../test/harness/kubectl.js';
import { accessGrant, sessionPolicy } from '../../test/harness/kubegate-objects.js';
import { deploymentYaml, eventually, podNames } from '../../test/harness/workloads.js';
import { inBatches } from '../in-batches.js';
import { buildGoPeer, startGoPeer, type RunningGoPeer } from './go-peer.js';
import { startKubectlProxy, type RunningKubectlProxy } from './kubectl-proxy.js';
import { startNodePeer } from './node-peer.js';
import type { RunningPeer } from './peer-process.js';

/** One way to the API server: where wrk and raw GETs go, the kubectl that uses it, and its proxy's pid. */
export interface AccessPath {
  name: 'direct' | 'kubegate' | 'go peer' | 'kubectl proxy' | 'node floor';
  url: string;
  /** the bearer token wrk and raw GETs send (none when empty) */
  token: string;
  kubectl: Kubectl;
  proxyPid?: number;
  /** false: the path relays no exec or port-forward (the Node floor forwards plain requests only) */
  upgrades?: false;
}

export interface BenchWorld {
  paths: AccessPath[];
  gateway: RunningGateway;
  peer: RunningGoPeer;
  kubectlProxy: RunningKubectlProxy;
  nodePeer: RunningPeer;
  /** holds the small ConfigMaps and the pod */
  namespace: string;
  /** holds the ~100 KB ConfigMaps */
  bulkNamespace: string;
  pod: string;
  /** the pod port kwok forwards to the byte source */
  forwardedPort: number;
  apiserverPid: number;
  /** how the gateway reaches the API server: its ServiceAccount's token and whom it impersonates */
  upstream: { token: string; user: string; group: string };
}

export interface WorldSize {
  smallConfigMaps: number;
  bulkConfigMaps: number;
  bulkConfigMapBytes: number;
}

const policyRef = { namespace: 'bench-gw', name: 'prod' };
const grantName = 'bench-bot';
const directUser = 'direct-bot';
const forwardedPort = 8080;

export async function createConfigMaps(cluster: TestCluster, namespace: string, count: number, valueBytes: number): Promise<void> {
  const core = cluster.admin.makeApiClient(k8s.CoreV1Api);
  const value = 'x'.repeat(valueBytes);
  const names = Array.from({ length: count }, (_, i) => `cm-${i}`);
  await inBatches(names, 8, (name) => core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { value } } }));
}

/** What a bench's objects are: the policy (its namespace and name, its rules), the grant, and how much data. */
export interface BenchObjects {
  policyRef: { namespace: string; name: string };
  rules?: unknown[];
  grantName: string;
  size: WorldSize;
  /** A user bound directly to the grant's roles (for the direct path), if any. */
  directUser?: string;
}

/**
 * The namespaces (small, bulk), the policy, an Active grant (edit on small: exec and port-forward; view
 * on bulk), the ConfigMaps and a running pod; returns the pod's name.
 */
export async function setUpObjects(cluster: TestCluster, objects: BenchObjects): Promise<string> {
  const { policyRef, grantName, size } = objects;
  const admin = await cluster.kubectl();
  const [namespace, bulkNamespace] = ['bench-small', 'bench-bulk'];
  for (const name of [policyRef.namespace, namespace, bulkNamespace]) await admin.ok(['create', 'namespace', name]);
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(policyRef.namespace, policyRef.name, objects.rules ? { rules: objects.rules } : {})) });
  const access = [
    { namespace, clusterRole: 'edit' },
    { namespace: bulkNamespace, clusterRole: 'view' },
  ];
  const subject = { kind: 'User' as const, name: grantName };
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(policyRef.namespace, grantName, { subject, duration: '2h', access, policyRef: { name: policyRef.name }, requestedBy: 'kubegate-admin' })),
  });
  const direct = objects.directUser;
  if (direct) for (const { namespace: where, clusterRole } of access) await admin.ok(['create', 'rolebinding', `${direct}-${clusterRole}`, `--clusterrole=${clusterRole}`, `--user=${direct}`, '-n', where]);
  await admin.ok(['apply', '-n', namespace, '-f', '-'], { input: deploymentYaml('bench-pod', 1) });
  await createConfigMaps(cluster, namespace, size.smallConfigMaps, 200);
  await createConfigMaps(cluster, bulkNamespace, size.bulkConfigMaps, size.bulkConfigMapBytes);
  await eventually(async () => {
    const phase = (await admin.ok(['get', 'accessgrant', grantName, '-n', policyRef.namespace, '-o', 'jsonpath={.status.phase}'])).trim();
    if (phase !== 'Active') throw new Error(`grant is ${phase || 'Pending'}`);
  }, 30_000);
  await admin.ok(['rollout', 'status', 'deployment/bench-pod', '-n', namespace, '--timeout=60s']);
  const [pod] = await podNames(admin, namespace, 'app=bench-pod');
  return pod!;
}

export async function setUpWorld(cluster: TestCluster, size: WorldSize, byteSourcePort: number, gatewayNodeOptions?: string): Promise<BenchWorld> {
  const admin = await cluster.kubectl();
  const [namespace, bulkNamespace] = ['bench-small', 'bench-bulk'];
  const subject = { kind: 'User' as const, name: grantName };
  const pod = await setUpObjects(cluster, { policyRef, grantName, size, directUser });
  await admin.ok(['apply', '-n', namespace, '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'PortForward',
      metadata: { name: pod },
      spec: { forwards: [{ ports: [forwardedPort], target: { port: byteSourcePort, address: '127.0.0.1' } }] },
    }),
  });

  // the recorder's own segment age (the test harness seals every 2 s, so that tests read recordings back soon)
  // sessions idle for 1 s close, so that a bench can count a new session's whole cost (its end, sealed and uploaded)
  const args = [`--segment-max-age-ms=${recorderDefaults.maxSegmentAgeMs}`, '--session-idle-ms=1000'];
  const gateway = await startGateway(cluster, policyRef, { args, ...(gatewayNodeOptions ? { env: { NODE_OPTIONS: gatewayNodeOptions } } : {}) });
  const jitKubeconfigFile = await jitKubeconfig(cluster, { namespace: policyRef.namespace, name: grantName }, gateway);
  const jitToken = /token: (\S+)/.exec(readFileSync(jitKubeconfigFile, 'utf8'))![1]!;
  const gatewayAccountToken = (await admin.ok(['create', 'token', `kubegate-gateway-${policyRef.name}`, '-n', policyRef.namespace, '--duration=2h'])).trim();
  const peer = await startGoPeer(await buildGoPeer(), {
    upstream: cluster.state.apiserver.url,
    upstreamCaFile: cluster.state.apiserver.caFile,
    upstreamToken: gatewayAccountToken,
    impersonateUser: impersonatedUser(subject),
    impersonateGroups: [grantGroup(policyRef.namespace, grantName)],
  });
  const directToken = await cluster.tokenFor({ user: directUser });
  const kubectlBinary = cluster.state.binaries.kubectl;
  const kubectlProxy = await startKubectlProxy(kubectlBinary, cluster.kubeconfigFile(directToken));
  const upstream = { token: gatewayAccountToken, user: impersonatedUser(subject), group: grantGroup(policyRef.namespace, grantName) };
  const nodePeer = await startNodePeer({ upstream: cluster.state.apiserver.url, upstreamCaFile: cluster.state.apiserver.caFile, upstreamToken: upstream.token, impersonateUser: upstream.user, impersonateGroup: upstream.group });
  const paths: AccessPath[] = [
    { name: 'direct', url: cluster.state.apiserver.url, token: directToken, kubectl: new Kubectl(kubectlBinary, cluster.kubeconfigFile(directToken)) },
    { name: 'kubegate', url: gateway.url, token: jitToken, kubectl: new Kubectl(kubectlBinary, jitKubeconfigFile), proxyPid: gateway.process.pid! },
    { name: 'go peer', url: peer.url, token: 'stripped-by-the-peer', kubectl: new Kubectl(kubectlBinary, peer.kubeconfig), proxyPid: peer.process.pid! },
    { name: 'kubectl proxy', url: kubectlProxy.url, token: '' /* kubectl proxy passes a client's Authorization header on: send none */, kubectl: new Kubectl(kubectlBinary, kubectlProxy.kubeconfig), proxyPid: kubectlProxy.process.pid! },
    { name: 'node floor', url: nodePeer.url, token: 'stripped-by-the-peer', kubectl: new Kubectl(kubectlBinary, nodePeer.kubeconfig), proxyPid: nodePeer.process.pid!, upgrades: false },
  ];
  const apiserverPid = cluster.state.components.find((component) => component.name === 'kube-apiserver')!.pid;
  return { paths, gateway, peer, kubectlProxy, nodePeer, namespace, bulkNamespace, pod, forwardedPort, apiserverPid, upstream };
}
