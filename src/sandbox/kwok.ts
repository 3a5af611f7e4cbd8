/**
 * kwok as the sandbox's node: it keeps one fake Node Ready, moves pods scheduled onto it to Running, and
 * serves the kubelet API for them — exec and attach run local commands in the sandbox folder, logs come
 * from a file, port-forward goes wherever a PortForward object says (by default: an echo of the stream).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { ManagedProcess } from './process.js';
import { waitUntil } from './network.js';
import type { SandboxFiles } from './files.js';

export const kwokNodeName = 'kwok-node-0';
const nodeSelector = 'kwok.x-k8s.io/node=fake';
const kwokApi = 'kwok.x-k8s.io/v1alpha1';

/** Node and pod lifecycle for kwok: node Ready with our address and kubelet port; pods Running; deletion. */
const stages = [
  {
    apiVersion: kwokApi,
    kind: 'Stage',
    metadata: { name: 'node-initialize' },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Node' },
      selector: {
        matchExpressions: [{ key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: 'NotIn', values: ['True'] }],
      },
      next: {
        statusTemplate: `{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ .metadata.name | Quote }}
  type: Hostname
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ NodePort }}
allocatable: {cpu: "64", memory: 256Gi, pods: "1000"}
capacity: {cpu: "64", memory: 256Gi, pods: "1000"}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: ""
  osImage: ""
  machineID: ""
  bootID: ""
  systemUUID: ""
phase: Running
`,
      },
    },
  },
  {
    apiVersion: kwokApi,
    kind: 'Stage',
    metadata: { name: 'pod-ready' },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: {
        matchExpressions: [
          { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
          { key: '.status.phase', operator: 'In', values: ['Pending'] },
        ],
      },
      next: {
        statusTemplate: `{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  imageID: ""
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with NodeIPWith .spec.nodeName }}
hostIP: {{ . | Quote }}
hostIPs:
- ip: {{ . | Quote }}
{{ end }}
{{ with PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
podIP: {{ . | Quote }}
podIPs:
- ip: {{ . | Quote }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
`,
      },
    },
  },
  {
    apiVersion: kwokApi,
    kind: 'Stage',
    metadata: { name: 'pod-delete' },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: { matchExpressions: [{ key: '.metadata.deletionTimestamp', operator: 'Exists' }] },
      next: { delete: true },
    },
  },
];

/** Cluster-wide debugging behaviour of every pod on the kwok node; per-pod objects override it. */
function clusterDebugging(files: SandboxFiles): Array<k8s.KubernetesObject & { spec: object }> {
  const logsFile = files.path('kwok/pod.log');
  return [
    {
      apiVersion: kwokApi,
      kind: 'ClusterExec',
      metadata: { name: 'local-commands' },
      spec: { execs: [{ local: { workDir: files.path('kwok/exec') } }] },
    },
    { apiVersion: kwokApi, kind: 'ClusterLogs', metadata: { name: 'pod-log' }, spec: { logs: [{ logsFile, follow: true }] } },
    { apiVersion: kwokApi, kind: 'ClusterAttach', metadata: { name: 'pod-log' }, spec: { attaches: [{ logsFile }] } },
    // without a PortForward object of its own, a pod port echoes what it receives
    { apiVersion: kwokApi, kind: 'ClusterPortForward', metadata: { name: 'echo' }, spec: { forwards: [{ command: ['cat'] }] } },
  ];
}

const kwokCrdKinds = ['Exec', 'ClusterExec', 'Logs', 'ClusterLogs', 'Attach', 'ClusterAttach', 'PortForward', 'ClusterPortForward'];

/** Installs kwok's debugging CRDs and the cluster-wide defaults, and registers the fake node. */
export async function installKwokResources(kubeconfig: k8s.KubeConfig, files: SandboxFiles, crdDir: string): Promise<void> {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kubeconfig);
  const extensions = kubeconfig.makeApiClient(k8s.ApiextensionsV1Api);
  const crdNames: string[] = [];
  for (const file of readdirSync(crdDir).filter((name) => name.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))) {
      const crd = document.toJS() as k8s.V1CustomResourceDefinition;
      if (!crd?.metadata?.name) continue;
      await extensions.createCustomResourceDefinition({ body: crd });
      crdNames.push(crd.metadata.name);
    }
  }
  for (const name of crdNames) {
    await waitUntil(`CRD ${name} Established`, async () => {
      const crd = await extensions.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : 'not established';
    });
  }
  for (const object of clusterDebugging(files)) await objects.create(object);
  // kwok reads logs in the CRI format kubelets write: time, stream, P(artial)/F(ull) tag, message
  const now = new Date().toISOString();
  writeFileSync(files.path('kwok/pod.log'), `${now} stdout F kwok pod started\n${now} stdout F listening on :8080\n`);
  await kubeconfig.makeApiClient(k8s.CoreV1Api).createNode({
    body: {
      metadata: {
        name: kwokNodeName,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': kwokNodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
      },
    },
  });
}

export function startKwok(binary: string, files: SandboxFiles, port: number): ManagedProcess {
  const config = files.path('kwok/stages.yaml');
  writeFileSync(config, stages.map((stage) => stringify(stage)).join('---\n'));
  return new ManagedProcess(
    {
      name: 'kwok',
      command: binary,
      args: [
        `--kubeconfig=${files.path('kubeconfigs/kwok.yaml')}`,
        `--config=${config}`,
        `--manage-nodes-with-annotation-selector=${nodeSelector}`,
        `--enable-crds=${kwokCrdKinds.join(',')}`,
        '--node-ip=127.0.0.1',
        `--node-port=${port}`,
        `--server-address=127.0.0.1:${port}`,
        `--tls-cert-file=${files.pki('kwok-serving.crt')}`,
        `--tls-private-key-file=${files.pki('kwok-serving.key')}`,
        '--node-lease-duration-seconds=40',
      ],
      // kwok reads ~/.kwok/kwok.yaml when it exists: keep the user's own kwok settings out of the sandbox
      env: { HOME: files.path('kwok') },
    },
    files.logDir,
  );
}

export async function waitNodeReady(kubeconfig: k8s.KubeConfig, kwok: ManagedProcess): Promise<void> {
  const core = kubeconfig.makeApiClient(k8s.CoreV1Api);
  await waitUntil(`node ${kwokNodeName} Ready`, async () => {
    const node = await core.readNode({ name: kwokNodeName });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'True' ? true : `Ready=${ready?.status ?? 'unknown'}`;
  }, { process: kwok, timeoutMs: 60_000 });
}
