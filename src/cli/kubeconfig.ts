/**
 * `kubegate kubeconfig GRANT -n NS [--server URL]`: prints the JIT kubeconfig of an Active grant, read from
 * where the operator keeps it (`kubeconfigLocation`). Only identities that could already act as the
 * grant's subject may read it, and the subject often may not read the grant itself: then the kubeconfig is
 * looked for where a User or Group subject's is kept, the operator's namespace.
 */
import type { Command } from 'commander';
import type * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { kubeconfigLocation, kubeconfigSecretKey, personalKubeconfigSecretName, type AccessGrant, type KubeconfigLocation } from '../api/index.js';
import { apiMessage, kubeClients, readIfExists, statusCode, type KubeClients } from '../kube/client.js';
import { accessGrants, getCustom } from '../kube/resources.js';
import { CliError, outputOption, type OutputFormat } from './output.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';

interface KubeconfigFlags {
  namespace: string;
  operatorNamespace: string;
  server?: string;
  kubeconfig?: string;
  output: OutputFormat;
}

export function registerKubeconfigCommand(program: Command): void {
  program
    .command('kubeconfig <grant>')
    .description("print an Active grant's JIT kubeconfig (gateway address, pinned gateway CA, token expiring with the grant); only its subject may read it")
    .requiredOption('-n, --namespace <namespace>', 'namespace of the AccessGrant')
    .option('--operator-namespace <namespace>', "the operator's namespace, where the kubeconfigs of User and Group subjects are kept", 'kubegate-system')
    .option('--server <url>', 'gateway address to use instead of the in-cluster Service (a gateway run outside the cluster)')
    .option('--kubeconfig <file>', 'kubeconfig to read the grant with (default: $KUBECONFIG, ~/.kube/config)')
    .addOption(outputOption())
    .action(async (name: string, options: KubeconfigFlags) => {
      const kubeconfig = await grantKubeconfig(loadKubeconfig(options.kubeconfig), name, options);
      process.stdout.write(options.output === 'json' ? JSON.stringify(kubeconfig, null, 2) + '\n' : stringify(kubeconfig));
    });
}

/** A kubeconfig as the YAML reads, with the parts kubegate looks at. */
export interface KubeconfigDocument {
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string } }>;
  [key: string]: unknown;
}

/** The grant's JIT kubeconfig, its clusters pointing at `server` when given. */
export async function grantKubeconfig(config: k8s.KubeConfig, name: string, options: Pick<KubeconfigFlags, 'namespace' | 'operatorNamespace' | 'server'>): Promise<KubeconfigDocument> {
  const clients = kubeClients(config);
  const location = await locate(clients, name, options);
  const secret = await readSecret(clients, location);
  const data = secret?.data?.[kubeconfigSecretKey];
  if (!data) throw new CliError(`no kubeconfig for accessgrant ${options.namespace}/${name} in Secret ${location.namespace}/${location.name}: the grant is not Active yet, or it just became so (retry in a moment)`);
  const kubeconfig = parse(Buffer.from(data, 'base64').toString('utf8')) as KubeconfigDocument;
  if (options.server) for (const cluster of kubeconfig.clusters) cluster.cluster.server = options.server;
  return kubeconfig;
}

/** Where the grant's kubeconfig is: from the grant when we may read it (refusing one that is not Active), else a User or Group subject's place. */
async function locate(clients: KubeClients, name: string, options: Pick<KubeconfigFlags, 'namespace' | 'operatorNamespace'>): Promise<KubeconfigLocation> {
  let grant: AccessGrant;
  try {
    grant = await getCustom<AccessGrant>(clients, accessGrants, options.namespace, name);
  } catch (error) {
    if (statusCode(error) !== 403) throw new CliError(`accessgrant ${options.namespace}/${name}: ${apiMessage(error)}`);
    return { namespace: options.operatorNamespace, name: personalKubeconfigSecretName(options.namespace, name) };
  }
  if (grant.status?.phase !== 'Active') {
    throw new CliError(`accessgrant ${options.namespace}/${name} is ${grant.status?.phase ?? 'Pending'}: ${grant.status?.message ?? grant.status?.conditions?.[0]?.message ?? 'not active yet'}`);
  }
  return kubeconfigLocation(grant, options.operatorNamespace);
}

async function readSecret(clients: KubeClients, location: KubeconfigLocation): Promise<k8s.V1Secret | undefined> {
  try {
    return await readIfExists<k8s.V1Secret>(clients, { apiVersion: 'v1', kind: 'Secret', metadata: { name: location.name, namespace: location.namespace } });
  } catch (error) {
    if (statusCode(error) === 403) throw new CliError(`Secret ${location.namespace}/${location.name}: ${apiMessage(error)} (only identities that could act as the grant's subject may read its kubeconfig)`);
    throw error;
  }
}
