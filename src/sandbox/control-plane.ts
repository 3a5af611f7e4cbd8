/**
 * Command lines and readiness checks for the Kubernetes control plane the sandbox runs: etcd,
 * kube-apiserver, kube-controller-manager and kube-scheduler, all on loopback.
 */
import { join } from 'node:path';
import { ManagedProcess } from './process.js';
import { answers200, probe, waitUntil } from './network.js';
import type { SandboxFiles } from './files.js';

export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

/** The issuer of the sandbox's ServiceAccount tokens: the API server itself, reachable on loopback. */
export function serviceAccountIssuer(ports: Pick<ControlPlanePorts, 'apiserver'>): string {
  return `https://127.0.0.1:${ports.apiserver}`;
}

export async function startEtcd(binary: string, files: SandboxFiles, ports: ControlPlanePorts): Promise<ManagedProcess> {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  const etcd = new ManagedProcess(
    {
      name: 'etcd',
      command: binary,
      args: [
        '--name=sandbox',
        `--data-dir=${join(files.dir, 'etcd')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=sandbox=${peer}`,
        // a throw-away cluster: durability of etcd's WAL buys nothing and costs seconds per test run
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
    },
    files.logDir,
  );
  await waitUntil('etcd health', answers200({ url: `${client}/health` }), { process: etcd });
  return etcd;
}

export async function startApiserver(
  binary: string,
  files: SandboxFiles,
  ports: ControlPlanePorts,
  adminToken: string,
): Promise<ManagedProcess> {
  const apiserver = new ManagedProcess(
    {
      name: 'kube-apiserver',
      command: binary,
      args: [
        `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.apiserver}`,
        `--tls-cert-file=${files.pki('apiserver.crt')}`,
        `--tls-private-key-file=${files.pki('apiserver.key')}`,
        `--client-ca-file=${files.pki('ca.crt')}`,
        `--token-auth-file=${files.path('tokens.csv')}`,
        `--authentication-config=${files.path('authentication.yaml')}`,
        '--authorization-mode=Node,RBAC',
        // the first issuer signs, and is the API server's own address so that MinIO can fetch its
        // discovery and JWKS (minio-iam.ts); tokens of the in-cluster name stay valid
        `--service-account-issuer=${serviceAccountIssuer(ports)}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${files.pki('service-account.pub')}`,
        `--service-account-signing-key-file=${files.pki('service-account.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--kubelet-preferred-address-types=InternalIP',
        `--kubelet-certificate-authority=${files.pki('ca.crt')}`,
        `--kubelet-client-certificate=${files.pki('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${files.pki('apiserver-kubelet-client.key')}`,
        `--audit-policy-file=${files.path('audit-policy.yaml')}`,
        `--audit-log-path=${join(files.logDir, 'audit.log')}`,
        '--audit-log-maxsize=100',
        '--audit-log-maxbackup=1',
        // /debug/pprof for benches only (KUBEGATE_SANDBOX_PROFILING=1: where the API server's CPU goes)
        `--profiling=${process.env.KUBEGATE_SANDBOX_PROFILING === '1'}`,
      ],
    },
    files.logDir,
  );
  const url = `https://127.0.0.1:${ports.apiserver}/readyz`;
  const ca = files.read(files.pki('ca.crt'));
  await waitUntil('kube-apiserver /readyz', answers200({ url, ca, headers: { authorization: `Bearer ${adminToken}` } }), {
    process: apiserver,
    timeoutMs: 90_000,
  });
  return apiserver;
}

/** Flags every control-plane controller shares: its kubeconfig for API, authn and authz, loopback serving. */
function componentFlags(kubeconfig: string, port: number, certDir: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    '--leader-elect=false',
  ];
}

export function startControllerManager(binary: string, files: SandboxFiles, ports: ControlPlanePorts): ManagedProcess {
  return new ManagedProcess(
    {
      name: 'kube-controller-manager',
      command: binary,
      args: [
        ...componentFlags(files.path('kubeconfigs/controller-manager.yaml'), ports.controllerManager, files.path('certs/controller-manager')),
        // each controller acts as its own ServiceAccount, as in kubeadm clusters
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${files.pki('service-account.key')}`,
        `--root-ca-file=${files.pki('ca.crt')}`,
        `--cluster-signing-cert-file=${files.pki('ca.crt')}`,
        `--cluster-signing-key-file=${files.pki('ca.key')}`,
        '--controllers=*',
      ],
    },
    files.logDir,
  );
}

export function startScheduler(binary: string, files: SandboxFiles, ports: ControlPlanePorts): ManagedProcess {
  return new ManagedProcess(
    {
      name: 'kube-scheduler',
      command: binary,
      args: componentFlags(files.path('kubeconfigs/scheduler.yaml'), ports.scheduler, files.path('certs/scheduler')),
    },
    files.logDir,
  );
}

/** Waits for a component's own /healthz (served on loopback with a self-signed certificate). */
export async function waitHealthy(process: ManagedProcess, port: number): Promise<void> {
  await waitUntil(`${process.name} /healthz`, async () => {
    const { status, body } = await probe({ url: `https://127.0.0.1:${port}/healthz` });
    return status === 200 ? true : `HTTP ${status} ${body.slice(0, 200)}`;
  }, { process, timeoutMs: 60_000 });
}
