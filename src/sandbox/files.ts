/**
 * The sandbox folder: certificates, tokens, authentication and audit configuration and kubeconfigs for
 * every component, written once before anything starts. A restarted sandbox in the same folder starts
 * from scratch (old etcd and MinIO data are removed by `prepareSandboxFiles`).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority, createSigningKeys, issueCertificate, type KeyPair } from '../pki/certificates.js';
import { kubeconfigYaml } from '../kube/kubeconfig-yaml.js';
import { oidcAudience } from './oidc-issuer.js';
import { apiServerClientId } from './identity-provider.js';

export interface SandboxFiles {
  dir: string;
  logDir: string;
  path(relative: string): string;
  pki(name: string): string;
  read(path: string): string;
}

export function sandboxFiles(dir: string): SandboxFiles {
  const root = resolve(dir);
  return {
    dir: root,
    logDir: join(root, 'logs'),
    path: (relative) => join(root, relative),
    pki: (name) => join(root, 'pki', name),
    read: (path) => readFileSync(path, 'utf8'),
  };
}

export interface PreparedFiles {
  files: SandboxFiles;
  caPem: string;
  adminToken: string;
  oidcSigningKeyPem: string;
  oidcTls: KeyPair;
  identityProviderTls: KeyPair;
  kwokServing: KeyPair;
}

export async function prepareSandboxFiles(dir: string, ports: { apiserver: number; oidc: number; identityProvider: number }): Promise<PreparedFiles> {
  const files = sandboxFiles(dir);
  for (const stale of ['etcd', 'minio', 'pki', 'kubeconfigs', 'certs', 'kwok', 'logs']) {
    rmSync(files.path(stale), { recursive: true, force: true });
  }
  for (const folder of ['pki', 'kubeconfigs', 'certs/controller-manager', 'certs/scheduler', 'kwok/exec', 'logs', 'minio']) {
    mkdirSync(files.path(folder), { recursive: true });
  }
  const write = (path: string, text: string) => writeFileSync(path, text, { mode: 0o600 });
  const server = `https://127.0.0.1:${ports.apiserver}`;

  const ca = await createCertificateAuthority('kubegate-sandbox-ca');
  write(files.pki('ca.crt'), ca.certPem);
  write(files.pki('ca.key'), ca.keyPem);
  const loopback = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
  const apiserver = await issueCertificate(ca, {
    subject: 'CN=kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: ['127.0.0.1', '10.0.0.1'],
    server: true,
  });
  write(files.pki('apiserver.crt'), apiserver.certPem);
  write(files.pki('apiserver.key'), apiserver.keyPem);
  const kubeletClient = await issueCertificate(ca, { subject: 'CN=kube-apiserver-kubelet-client, O=system:masters', client: true });
  write(files.pki('apiserver-kubelet-client.crt'), kubeletClient.certPem);
  write(files.pki('apiserver-kubelet-client.key'), kubeletClient.keyPem);
  const serviceAccount = await createSigningKeys();
  write(files.pki('service-account.key'), serviceAccount.privateKeyPem);
  write(files.pki('service-account.pub'), serviceAccount.publicKeyPem);
  const kwokServing = await issueCertificate(ca, { subject: 'CN=kwok-kubelet', ...loopback, server: true });
  write(files.pki('kwok-serving.crt'), kwokServing.certPem);
  write(files.pki('kwok-serving.key'), kwokServing.keyPem);
  const oidcTls = await issueCertificate(ca, { subject: 'CN=sandbox-oidc-issuer', ...loopback, server: true });
  const identityProviderTls = await issueCertificate(ca, { subject: 'CN=sandbox-identity-provider', ...loopback, server: true });
  const oidcSigning = await createSigningKeys();
  write(files.pki('oidc-signing.key'), oidcSigning.privateKeyPem);

  // Identities of the control plane's own components: the bootstrap RBAC roles of a real cluster bind
  // these exact user names; kwok plays the part of every kubelet and gets cluster-admin as in kwokctl.
  const identities: Record<string, string> = {
    'controller-manager': 'CN=system:kube-controller-manager',
    scheduler: 'CN=system:kube-scheduler',
    kwok: 'CN=kwok-controller, O=system:masters',
  };
  for (const [name, subject] of Object.entries(identities)) {
    const pair = await issueCertificate(ca, { subject, client: true });
    write(files.path(`kubeconfigs/${name}.yaml`), kubeconfigYaml({ server, caPem: ca.certPem, user: pair }));
  }

  const adminToken = randomBytes(24).toString('hex');
  write(files.path('tokens.csv'), `${adminToken},kubegate-admin,kubegate-admin,"system:masters"\n`);
  write(files.path('kubeconfig'), kubeconfigYaml({ server, caPem: ca.certPem, user: { token: adminToken } }));

  write(
    files.path('authentication.yaml'),
    stringify({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [
        {
          issuer: { url: `https://127.0.0.1:${ports.oidc}`, audiences: [oidcAudience], certificateAuthority: ca.certPem },
          claimMappings: { username: { claim: 'sub', prefix: '' }, groups: { claim: 'groups', prefix: '' } },
        },
        // the real provider, for its `kubernetes` client only: its `kubegate` client's tokens (the
        // gateway's audience) are refused here
        {
          issuer: { url: `https://127.0.0.1:${ports.identityProvider}`, audiences: [apiServerClientId], certificateAuthority: ca.certPem },
          claimMappings: { username: { claim: 'email', prefix: '' }, groups: { claim: 'groups', prefix: '' } },
        },
      ],
    }),
  );
  write(
    files.path('audit-policy.yaml'),
    stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [{ level: 'Metadata' }],
    }),
  );
  return { files, caPem: ca.certPem, adminToken, oidcSigningKeyPem: oidcSigning.privateKeyPem, oidcTls, identityProviderTls, kwokServing };
}
