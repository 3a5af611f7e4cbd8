/** `kubegate approve|deny REQUEST -n NS --reason "…"`: appends a decision recorded as the authenticated user. */
import type { Command } from 'commander';
import * as k8s from '@kubernetes/client-node';
import type { ApprovalRequest } from '../api/index.js';
import { authenticatedName } from '../api/identity.js';
import { apiMessage, kubeClients, type KubeClients } from '../kube/client.js';
import { approvalRequests, getCustom, namespacedPath } from '../kube/resources.js';
import { CliError, outputOption, type OutputFormat } from './output.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';

interface DecideOptions {
  namespace: string;
  reason: string;
  kubeconfig?: string;
  output: OutputFormat;
}

async function readRequest(clients: KubeClients, namespace: string, name: string): Promise<ApprovalRequest> {
  try {
    return await getCustom<ApprovalRequest>(clients, approvalRequests, namespace, name);
  } catch (error) {
    throw new CliError(`approvalrequest ${namespace}/${name}: ${apiMessage(error)}`);
  }
}

/**
 * Appends `decision` to the ApprovalRequest as whoever `config` authenticates as; returns who that is and
 * the request. The append tests the resourceVersion read, so it is read again when someone else (the
 * operator writing the status) changed the request in between.
 */
export async function decideApproval(config: k8s.KubeConfig, namespace: string, name: string, decision: 'Approve' | 'Deny', reason: string): Promise<{ by: string; updated: ApprovalRequest }> {
  const clients = kubeClients(config);
  const review = await config.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
  const by = authenticatedName(review.status?.userInfo);
  if (!by) throw new CliError('cannot tell who you are: the API server returned no username');
  const entry = { decision, by, reason, at: new Date().toISOString() };
  for (let attempt = 1; ; attempt++) {
    const request = await readRequest(clients, namespace, name);
    const patch = [
      { op: 'test', path: '/metadata/resourceVersion', value: request.metadata!.resourceVersion },
      request.spec.decisions ? { op: 'add', path: '/spec/decisions/-', value: entry } : { op: 'add', path: '/spec/decisions', value: [entry] },
    ];
    try {
      const updated = await clients.raw.patch<ApprovalRequest>(namespacedPath(approvalRequests, namespace, name), patch, 'application/json-patch+json');
      return { by, updated };
    } catch (error) {
      const changed = attempt < 5 && (await readRequest(clients, namespace, name)).metadata!.resourceVersion !== request.metadata!.resourceVersion;
      if (!changed) throw new CliError(`${decision === 'Approve' ? 'approving' : 'denying'} ${namespace}/${name} refused: ${apiMessage(error)}`);
    }
  }
}

async function decide(name: string, decision: 'Approve' | 'Deny', options: DecideOptions): Promise<void> {
  const { by, updated } = await decideApproval(loadKubeconfig(options.kubeconfig), options.namespace, name, decision, options.reason);
  if (options.output === 'json') process.stdout.write(JSON.stringify(updated, null, 2) + '\n');
  else process.stdout.write(`approvalrequest ${options.namespace}/${name}: ${decision === 'Approve' ? 'approved' : 'denied'} by ${by}\n`);
}

export function registerApprovalCommands(program: Command): void {
  for (const [command, decision] of [['approve', 'Approve'], ['deny', 'Deny']] as const) {
    program
      .command(`${command} <request>`)
      .description(`${command} an ApprovalRequest; the decision is recorded as the identity the API server authenticates`)
      .requiredOption('-n, --namespace <namespace>', 'namespace of the ApprovalRequest')
      .requiredOption('--reason <reason>', 'why (kept with the decision)')
      .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config)')
      .addOption(outputOption())
      .action((name: string, options: DecideOptions) => decide(name, decision, options));
  }
}
