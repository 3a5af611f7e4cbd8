/**
 * What `kubegate dev` does in its sandbox: installs kubegate's CRDs, RBAC and admission policies from
 * config/ (not config/manager's operator Deployment: the operator runs as a local process), writes
 * kubeconfigs for the ServiceAccounts and people of the samples, applies samples/dev as the identity that
 * would apply each file, and approves the bot's grant as the sample approver.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import type { AccessGrant, SessionPolicy, SessionPolicyGatewayStorage } from '../../api/index.js';
import { kubeClients, type KubeClients } from '../../kube/client.js';
import { kubeconfigYaml } from '../../kube/kubeconfig-yaml.js';
import { accessGrants, getCustom, sessionPolicies } from '../../kube/resources.js';
import { mintUserToken } from '../../sandbox/oidc-issuer.js';
import { policyIdentityProvider } from '../../sandbox/identity-provider.js';
import { waitUntil } from '../../sandbox/network.js';
import type { SandboxState } from '../../sandbox/sandbox.js';
import { packageRoot } from '../../util/package-root.js';
import { decideApproval } from '../approvals.js';
import { grantKubeconfig, type KubeconfigDocument } from '../kubeconfig.js';
import { Kubectl, type Identity } from '../../sandbox/kubectl.js';

export const operatorNamespace = 'kubegate-system';
export const samplesDir = join(packageRoot(), 'samples', 'dev');
/** The people of samples/dev/people.yaml: alice asks for grants, bob approves them. */
export const sampleRequester: Identity = { user: 'alice@example.com', groups: ['engineers'] };
export const sampleApprover: Identity = { user: 'bob@example.com', groups: ['sre-leads'] };

/** Each file of samples/dev, in the order applied, and who applies it (the sandbox admin unless named). */
export const devSamples: Array<{ file: string; as?: Identity }> = [
  { file: 'namespaces.yaml' },
  { file: 'people.yaml' },
  { file: 'shop.yaml' },
  { file: 'sessionpolicy.yaml' },
  { file: 'console.yaml' },
  // admission checks that spec.requestedBy is whoever creates the grant
  { file: 'accessgrant.yaml', as: sampleRequester },
];

export interface ObjectRef {
  namespace: string;
  name: string;
}

function sampleRef(file: string): ObjectRef {
  const { metadata } = parse(readFileSync(join(samplesDir, file), 'utf8')) as k8s.KubernetesObject;
  return { namespace: metadata!.namespace!, name: metadata!.name! };
}

export const devPolicy = sampleRef('sessionpolicy.yaml');
export const devGrant = sampleRef('accessgrant.yaml');
/** Where the bot works (samples/dev/shop.yaml). */
export const shopNamespace = 'shop';

/** The sandbox admin's clients and kubectl, and where `kubegate dev` keeps its files. */
export interface DevCluster {
  state: SandboxState;
  clients: KubeClients;
  admin: Kubectl;
  dir: string;
}

export function devCluster(state: SandboxState, dir: string): DevCluster {
  const config = new k8s.KubeConfig();
  config.loadFromFile(state.kubeconfig);
  return { state, clients: kubeClients(config), admin: new Kubectl(state.binaries.kubectl, state.kubeconfig), dir };
}

/** CRDs (Established before the admission policies that name them), the operator's namespace and RBAC, admission. */
export async function installKubegate(admin: Pick<Kubectl, 'ok'>): Promise<void> {
  const config = join(packageRoot(), 'config');
  await Promise.all([
    (async () => {
      await admin.ok(['apply', '--server-side', '-k', join(config, 'crd')]);
      await admin.ok(['wait', '--for=condition=Established', 'crd/accessgrants.kubegate.dev', 'crd/approvalrequests.kubegate.dev', 'crd/sessionpolicies.kubegate.dev']);
      // the operator applies these too: forcing keeps config/'s copy current
      await admin.ok(['apply', '--server-side', '--force-conflicts', '-k', join(config, 'admission')]);
    })(),
    (async () => {
      await admin.ok(['apply', '--server-side', '-f', join(config, 'manager', 'namespace.yaml')]);
      await admin.ok(['apply', '--server-side', '-k', join(config, 'rbac')]);
    })(),
  ]);
}

function writeKubeconfig(cluster: DevCluster, file: string, token: string): string {
  const path = join(cluster.dir, file);
  writeFileSync(path, kubeconfigYaml({ server: cluster.state.apiserver.url, caPem: readFileSync(cluster.state.apiserver.caFile, 'utf8'), user: { token } }), { mode: 0o600 });
  return path;
}

/** A kubeconfig file as the ServiceAccount (a TokenRequest token), once the account exists. */
export async function serviceAccountKubeconfig(cluster: DevCluster, account: ObjectRef, file: string): Promise<string> {
  let token = '';
  await waitUntil(`ServiceAccount ${account.namespace}/${account.name}`, async () => {
    try {
      const body = { spec: { audiences: [], expirationSeconds: 24 * 3600 } };
      const path = `${await cluster.clients.objects.path({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: account })}/token`;
      token = (await cluster.clients.raw.requestJson<k8s.AuthenticationV1TokenRequest>('POST', path, body)).status?.token ?? '';
      return token ? true : 'no token issued';
    } catch (error) {
      return String(error);
    }
  }, { timeoutMs: 30_000 });
  return writeKubeconfig(cluster, file, token);
}

/** A kubeconfig file as a person, with a token from the sandbox's identity provider. */
export async function personKubeconfig(cluster: DevCluster, person: Identity, file: string): Promise<string> {
  const { oidc } = cluster.state;
  const token = await mintUserToken({ issuer: oidc.issuer, signingKeyPem: readFileSync(oidc.signingKeyFile, 'utf8'), user: person.user, groups: person.groups, ttlSeconds: 24 * 3600 });
  return writeKubeconfig(cluster, file, token);
}

/** Applies samples/dev, each file as its identity; the grant retries while alice's RBAC and admission settle. */
export async function applyDevSamples(admin: Kubectl): Promise<void> {
  for (const { file, as } of devSamples) {
    const kubectl = as ? admin.as(as) : admin;
    let last = '';
    await waitUntil(`kubectl apply -f samples/dev/${file}${as ? ` as ${as.user}` : ''}`, async () => {
      const result = await kubectl.run(['apply', '-f', join(samplesDir, file)]);
      last = result.stderr.trim();
      return result.code === 0 ? true : last;
    }, { timeoutMs: 20_000, intervalMs: 500 });
  }
}

/**
 * What the applied dev policy gets of this run: its gateway and the console trust the sandbox's identity
 * provider (its issuer's port and CA are the sandbox's own), and its storage is the store `kubegate dev`
 * records to, so that the operator keeps the access ledger of its grants there, beside the recordings
 * (the console shows it). Both are known at start only, so they are added to the sample rather than written in it.
 */
export async function completeDevPolicy(cluster: DevCluster, policy: ObjectRef, storage: SessionPolicyGatewayStorage): Promise<void> {
  const provider = cluster.state.identityProvider;
  const patch = { spec: { identityProviders: [policyIdentityProvider(provider, readFileSync(provider.caFile, 'utf8'))], gateway: { storage } } };
  await cluster.admin.ok(['patch', 'sessionpolicy', policy.name, '-n', policy.namespace, '--type=merge', '-p', JSON.stringify(patch)]);
}

export async function waitPolicyReady(cluster: DevCluster, policy: ObjectRef): Promise<void> {
  await waitUntil(`SessionPolicy ${policy.namespace}/${policy.name} Ready`, async () => {
    const status = (await getCustom<SessionPolicy>(cluster.clients, sessionPolicies, policy.namespace, policy.name)).status;
    return status?.phase === 'Ready' ? true : `${status?.phase ?? 'no status'}: ${status?.message ?? ''}`;
  }, { timeoutMs: 30_000 });
}

async function waitGrant(cluster: DevCluster, grant: ObjectRef, what: string, done: (grant: AccessGrant) => boolean): Promise<AccessGrant> {
  let found: AccessGrant | undefined;
  await waitUntil(`AccessGrant ${grant.namespace}/${grant.name} ${what}`, async () => {
    found = await getCustom<AccessGrant>(cluster.clients, accessGrants, grant.namespace, grant.name);
    return done(found) ? true : `${found.status?.phase ?? 'no status'}: ${found.status?.message ?? ''}`;
  }, { timeoutMs: 30_000 });
  return found!;
}

/** Approves the grant's ApprovalRequest as `approver` (the write `kubegate approve` makes) and waits until it is Active. */
export async function approveGrant(cluster: DevCluster, grant: ObjectRef, approverKubeconfig: string): Promise<void> {
  const pending = await waitGrant(cluster, grant, 'with an ApprovalRequest', (g) => !!g.status?.approvalRequest);
  const config = new k8s.KubeConfig();
  config.loadFromFile(approverKubeconfig);
  await decideApproval(config, grant.namespace, pending.status!.approvalRequest!, 'Approve', 'kubegate dev: the demo bot may work on the shop');
  await waitGrant(cluster, grant, 'Active', (g) => g.status?.phase === 'Active');
}

/** The grant's JIT kubeconfig pointing at `server`, once the operator has written it. */
export async function jitKubeconfig(cluster: DevCluster, grant: ObjectRef, server: string): Promise<KubeconfigDocument> {
  const config = new k8s.KubeConfig();
  config.loadFromFile(cluster.state.kubeconfig);
  let kubeconfig: KubeconfigDocument | undefined;
  await waitUntil(`the JIT kubeconfig of ${grant.namespace}/${grant.name}`, async () => {
    try {
      kubeconfig = await grantKubeconfig(config, grant.name, { namespace: grant.namespace, operatorNamespace, server });
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  }, { timeoutMs: 20_000 });
  return kubeconfig!;
}
