/**
 * The gateway's serving certificate: the operator's (mounted `tls.crt`/`tls.key`) in a cluster; outside
 * one, a certificate the gateway issues itself for its listen address from the policy's CA (in the TLS
 * Secret), so JIT kubeconfigs that pin that CA verify it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { RawKubeClient } from '../kube/raw-client.js';
import { tlsSecretName } from '../api/names.js';

export interface ServingTls {
  cert: string;
  key: string;
  ca: string;
}

export async function tlsFromDirectory(dir: string): Promise<ServingTls> {
  const [cert, key, ca] = await Promise.all(['tls.crt', 'tls.key', 'ca.crt'].map((file) => readFile(join(dir, file), 'utf8')));
  return { cert: cert!, key: key!, ca: ca! };
}

export async function tlsIssuedFromSecret(api: RawKubeClient, policy: { namespace: string; name: string }, hosts: string[]): Promise<ServingTls> {
  // loaded here only: @peculiar/x509 costs a process ~12 MiB, and a gateway with a mounted certificate needs none of it
  const { issueCertificate, loadCertificateAuthority } = await import('../pki/certificates.js');
  const secret = await api.requestJson<k8s.V1Secret>('GET', `/api/v1/namespaces/${policy.namespace}/secrets/${tlsSecretName(policy.name)}`);
  const decode = (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
  const ca = await loadCertificateAuthority(decode('ca.crt'), decode('ca.key'));
  const ipAddresses = hosts.filter((host) => /^[\d.]+$|:/.test(host));
  const dnsNames = hosts.filter((host) => !ipAddresses.includes(host));
  const serving = await issueCertificate(ca, { subject: `CN=kubegate-gateway-${policy.name}`, dnsNames, ipAddresses, server: true, validDays: 30 });
  return { cert: serving.certPem, key: serving.keyPem, ca: ca.certPem };
}
