/** `kubegate kubeconfig GRANT -n NS [--server URL]`: prints the JIT kubeconfig of an Active grant. */
import type { Command } from 'commander';
import type * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { kubeconfigSecretKey, kubeconfigSecretName, type AccessGrant } from '../api/index.js';
import { apiMessage, kubeClients, readIfExists } from '../kube/client.js';
import { accessGrants, getCustom } from '../kube/resources.js';
import { CliError, outputOption, type OutputFormat } from './output.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';

export function registerKubeconfigCommand(program: Command): void {
  program
    .command('kubeconfig <grant>')
    .description("print an Active grant's JIT kubeconfig (gateway address, pinned gateway CA, token expiring with the grant)")
    .requiredOption('-n, --namespace <namespace>', 'namespace of the AccessGrant')
    .option('--server <url>', 'gateway address to use instead of the in-cluster Service (a gateway run outside the cluster)')
    .option('--kubeconfig <file>', 'kubeconfig to read the grant with (default: $KUBECONFIG, ~/.kube/config)')
    .addOption(outputOption())
    .action(async (name: string, options: { namespace: string; server?: string; kubeconfig?: string; output: OutputFormat }) => {
      const clients = kubeClients(loadKubeconfig(options.kubeconfig));
      let grant: AccessGrant;
      try {
        grant = await getCustom<AccessGrant>(clients, accessGrants, options.namespace, name);
      } catch (error) {
        throw new CliError(`accessgrant ${options.namespace}/${name}: ${apiMessage(error)}`);
      }
      if (grant.status?.phase !== 'Active') {
        throw new CliError(`accessgrant ${options.namespace}/${name} is ${grant.status?.phase ?? 'Pending'}: ${grant.status?.message ?? grant.status?.conditions?.[0]?.message ?? 'not active yet'}`);
      }
      const secretName = kubeconfigSecretName(grant);
      const secret = await readIfExists<k8s.V1Secret>(clients, { apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, namespace: options.namespace } });
      const data = secret?.data?.[kubeconfigSecretKey];
      if (!data) throw new CliError(`the kubeconfig Secret ${options.namespace}/${secretName} is not written yet; retry in a moment`);
      const kubeconfig = parse(Buffer.from(data, 'base64').toString('utf8'));
      if (options.server) for (const cluster of kubeconfig.clusters) cluster.cluster.server = options.server;
      process.stdout.write(options.output === 'json' ? JSON.stringify(kubeconfig, null, 2) + '\n' : stringify(kubeconfig));
    });
}
