import { stringify } from 'yaml';

export type KubeconfigUser = { token: string } | { certPem: string; keyPem: string };

/** A single-context kubeconfig with everything embedded, so it can be copied anywhere. */
export function kubeconfigYaml(options: { server: string; caPem: string; user: KubeconfigUser; name?: string }): string {
  const name = options.name ?? 'kubegate-sandbox';
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const user =
    'token' in options.user
      ? { token: options.user.token }
      : { 'client-certificate-data': b64(options.user.certPem), 'client-key-data': b64(options.user.keyPem) };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: options.server, 'certificate-authority-data': b64(options.caPem) } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}
