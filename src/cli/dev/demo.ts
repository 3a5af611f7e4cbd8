/**
 * `kubegate dev --demo`: a scripted agent, the bot, works through the gateway with the real kubectl and
 * its JIT kubeconfig, so that the recordings (and the console) have a real story: reads, a refused
 * namespace deletion, an escalation held until the sample approver approves it, exec with stdin whose
 * output carries a password the policy masks, a refused `rm -rf`, and bytes through a port-forward.
 */
import { connect } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import type { ApprovalRequest } from '../../api/index.js';
import { approvalRequests, getCustom } from '../../kube/resources.js';
import { waitUntil } from '../../sandbox/network.js';
import { decideApproval } from '../approvals.js';
import { sampleApprover, shopNamespace, type DevCluster } from './cluster.js';
import { forwardedLocalPort, type Kubectl, type KubectlResult } from '../../sandbox/kubectl.js';

export interface DemoContext {
  cluster: DevCluster;
  bot: Kubectl;
  approverKubeconfig: string;
  /** Where each step and its outcome is printed. */
  print: (line: string) => void;
}

interface DemoStep {
  title: string;
  /** The step's outcome for people; throws when it did not go as the script expects. */
  play: (context: DemoContext, pod: string) => Promise<string>;
}

const ns = ['-n', shopNamespace];

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

function expectRefused(result: KubectlResult, reason: RegExp): string {
  if (result.code === 0 || !reason.test(result.stderr)) throw new Error(`expected a refusal matching ${reason}, got exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return `refused: ${firstLine(result.stderr)}`;
}

async function expectAllowed(bot: Kubectl, args: string[], input?: string): Promise<string> {
  return (await bot.ok(args, { input })).trim();
}

/** The escalation: held, the ApprovalRequest it names approved as the sample approver, then the same request again. */
async function heldThenApproved(context: DemoContext): Promise<string> {
  const args = ['create', 'rolebinding', 'carol-edits-shop', '--clusterrole=edit', '--user=carol@example.com', ...ns];
  const held = await context.bot.run(args);
  expectRefused(held, /KG_APPROVAL_REQUIRED|is Pending/);
  const named = /ApprovalRequest (\S+)\/(\S+) is Pending/.exec(held.stderr);
  if (!named) throw new Error(`the refusal names no ApprovalRequest: ${held.stderr.trim()}`);
  const [, namespace, name] = named as unknown as [string, string, string];
  context.print(`         held: ${firstLine(held.stderr)}`);
  const approver = new k8s.KubeConfig();
  approver.loadFromFile(context.approverKubeconfig);
  await decideApproval(approver, namespace, name, 'Approve', 'kubegate dev --demo: carol may edit the shop');
  context.print(`         ${sampleApprover.user} approved ApprovalRequest ${namespace}/${name}; the same request again:`);
  await waitUntil(`ApprovalRequest ${namespace}/${name} Approved`, async () => {
    const phase = (await getCustom<ApprovalRequest>(context.cluster.clients, approvalRequests, namespace, name)).status?.phase;
    return phase === 'Approved' ? true : `${phase}`;
  }, { timeoutMs: 20_000 });
  let created = '';
  // the gateway learns of the decision from its watch of ApprovalRequests: retry until it has
  await waitUntil('the approved request through the gateway', async () => {
    const retry = await context.bot.run(args);
    created = retry.stdout.trim();
    return retry.code === 0 ? true : retry.stderr.trim();
  }, { timeoutMs: 20_000, intervalMs: 500 });
  return `allowed: ${created}`;
}

/** Sends a line through the forward and reads it back (the kwok node's port-forwards echo what they get). */
async function throughPortForward(context: DemoContext, pod: string): Promise<string> {
  const forward = context.bot.start(['port-forward', ...ns, `pod/${pod}`, ':8080']);
  try {
    const port = await forwardedLocalPort(forward, 8080);
    const line = 'hello through the gateway\n';
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(line));
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        received += chunk;
        if (received.length >= line.length) socket.end(() => resolve(received));
      });
      socket.once('error', reject);
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    });
    if (echoed !== line) throw new Error(`sent ${JSON.stringify(line)}, got back ${JSON.stringify(echoed)}`);
    return `${line.length} bytes there and back through 127.0.0.1:${port}`;
  } finally {
    forward.kill();
  }
}

const secretLine = 'echo "connecting to db.shop with password=hunter2"';

const steps: DemoStep[] = [
  { title: `kubectl get pods -n ${shopNamespace}`, play: async ({ bot }) => `allowed:\n${await expectAllowed(bot, ['get', 'pods', ...ns])}` },
  {
    title: `kubectl get configmap web-config -n ${shopNamespace} -o jsonpath={.data}`,
    play: async ({ bot }) => `allowed, the password masked: ${await expectAllowed(bot, ['get', 'configmap', 'web-config', ...ns, '-o', 'jsonpath={.data}'])}`,
  },
  {
    title: `kubectl get secret web-db -n ${shopNamespace} -o jsonpath={.data}`,
    play: async ({ bot }) => `allowed, the Secret's data masked: ${await expectAllowed(bot, ['get', 'secret', 'web-db', ...ns, '-o', 'jsonpath={.data}'])}`,
  },
  { title: `kubectl delete namespace ${shopNamespace}`, play: async ({ bot }) => expectRefused(await bot.run(['delete', 'namespace', shopNamespace]), /no-namespace-deletion/) },
  { title: `kubectl create rolebinding carol-edits-shop --clusterrole=edit --user=carol@example.com -n ${shopNamespace}`, play: heldThenApproved },
  {
    title: `kubectl exec -i POD -n ${shopNamespace} -- sh -c 'head -n 2 | sh'   (stdin: ${secretLine}; echo done)`,
    play: async ({ bot }, pod) => {
      const output = await expectAllowed(bot, ['exec', '-i', ...ns, pod, '--', 'sh', '-c', 'head -n 2 | sh'], `${secretLine}\necho done\n`);
      if (output.includes('hunter2')) throw new Error(`the password reached the output unmasked: ${output}`);
      return `allowed, output masked: ${output.replaceAll('\n', ' | ')}`;
    },
  },
  { title: `kubectl exec POD -n ${shopNamespace} -- sh -c 'rm -rf /tmp/shop-cache'`, play: async ({ bot }, pod) => expectRefused(await bot.run(['exec', ...ns, pod, '--', 'sh', '-c', 'rm -rf /tmp/shop-cache']), /no-rm-rf/) },
  { title: `kubectl port-forward pod/POD :8080 -n ${shopNamespace}`, play: throughPortForward },
];

/** Plays every step; returns how many went as scripted (a failed step is printed and the rest still play). */
export async function playDemo(context: DemoContext): Promise<{ played: number; failed: number }> {
  const { admin } = context.cluster;
  let pod = '';
  await waitUntil(`a Running pod of Deployment ${shopNamespace}/web`, async () => {
    const listed = await admin.run(['get', 'pods', '-l', 'app=web', ...ns, '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[0].metadata.name}']);
    pod = listed.stdout.trim();
    return pod ? true : listed.stderr.trim() || 'none yet';
  }, { timeoutMs: 60_000, intervalMs: 500 });
  let failed = 0;
  for (const [index, step] of steps.entries()) {
    context.print(`demo ${index + 1}/${steps.length}: ${step.title.replace('POD', pod)}`);
    try {
      const outcome = await step.play(context, pod);
      context.print(outcome.split('\n').map((line) => `         ${line}`).join('\n'));
    } catch (error) {
      failed++;
      context.print(`         NOT AS SCRIPTED: ${(error as Error).message}`);
    }
  }
  return { played: steps.length, failed };
}
