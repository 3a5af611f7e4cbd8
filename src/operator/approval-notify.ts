/**
 * Telling approvers that an ApprovalRequest waits for them (SessionPolicy `spec.approvers.notify`): one
 * POST of a Slack-compatible message (`text` for notifications and clients without blocks, `blocks` for
 * the rest) naming the requester, the subject, the exact request held (or the grant's access), the
 * rule, how to approve, and the console's page for it. The webhook URL is a credential (a Slack
 * incoming webhook is): it never appears in a condition, an Event or a log.
 */
import type { AccessGrant, ApprovalRequest, SessionPolicyApproversNotify } from '../api/index.js';
import type * as k8s from '@kubernetes/client-node';
import { isNotFound, type KubeClients } from '../kube/client.js';

/** Why a notification could not be sent; `reason` is the Notified condition's. */
export class NotifyError extends Error {
  constructor(
    readonly reason: 'WebhookNotConfigured' | 'WebhookFailed',
    message: string,
  ) {
    super(message);
    this.name = 'NotifyError';
  }
}

const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** What is wrong with `url` as a webhook (the CRD's rule, again for a URL read from a Secret); undefined when nothing. */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'the webhook URL is not a URL';
  }
  if (parsed.protocol === 'https:' || (parsed.protocol === 'http:' && loopbackHosts.has(parsed.hostname))) return undefined;
  return 'the webhook URL must be https (http only to 127.0.0.1, ::1 or localhost)';
}

/** The webhook URL `notify` names, read from its Secret when it names one. */
export async function webhookUrl(clients: KubeClients, namespace: string, notify: SessionPolicyApproversNotify): Promise<string> {
  let url = notify.webhookUrl;
  const ref = notify.webhookSecretRef;
  if (ref) {
    try {
      const secret = await clients.objects.read<k8s.V1Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace } });
      const value = secret.data?.[ref.key];
      url = value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8').trim();
      if (url === undefined) throw new NotifyError('WebhookNotConfigured', `Secret ${namespace}/${ref.name} has no key ${ref.key}`);
    } catch (error) {
      if (isNotFound(error)) throw new NotifyError('WebhookNotConfigured', `Secret ${namespace}/${ref.name} does not exist`);
      throw error;
    }
  }
  const problem = url === undefined ? 'no webhook URL' : webhookUrlProblem(url);
  if (problem) throw new NotifyError('WebhookNotConfigured', problem);
  return url!;
}

/** What the request asks for, in one line: the held API request, or the grant's access. */
function asked(request: ApprovalRequest, grant: AccessGrant | undefined): string {
  const held = request.spec.request;
  if (held) return `${held.verb} ${held.path}${held.command ? ` (command: ${held.command.join(' ')})` : ''}`;
  const access = (grant?.spec.access ?? []).map((entry) => `${entry.clusterRole ?? entry.role} ${entry.namespace ? `in ${entry.namespace}` : 'cluster-wide'}`);
  const name = request.spec.target?.name ?? '?';
  return `grant ${name}: ${access.length > 0 ? access.join(', ') : 'access as the grant names it'}${grant?.spec.duration ? ` for ${grant.spec.duration}` : ''}`;
}

export interface SlackMessage {
  text: string;
  blocks: object[];
}

/** The message about `request` (whose grant is `grant`, for a grant's approval). */
export function notificationMessage(request: ApprovalRequest, grant: AccessGrant | undefined, consoleUrl?: string): SlackMessage {
  const namespace = request.metadata!.namespace!;
  const name = request.metadata!.name!;
  const { requester, subject, reason } = request.spec;
  const rule = request.spec.request?.rule ? `rule ${request.spec.request.rule}` : 'grant approval';
  const policy = `${namespace}/${request.spec.policyRef?.name ?? request.spec.request?.policy ?? '?'}`;
  const what = asked(request, grant);
  const approve = `kubegate approve ${name} -n ${namespace} --reason "…"`;
  const link = consoleUrl ? `${consoleUrl.replace(/\/+$/, '')}/approvals/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}` : undefined;
  const who = subject && subject !== requester ? `${requester} for ${subject}` : requester;
  const text = `kubegate: approval needed for ${who}: ${what} (${rule}, policy ${policy}). ${link ? `Review: ${link}; or ` : ''}${approve}`;
  const fields = [
    ['Requester', requester],
    ['Subject', subject ?? requester],
    ['Rule', rule],
    ['Policy', policy],
    ['Reason', reason],
    ['Expires', request.spec.expiresAt],
  ].map(([label, value]) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` }));
  const blocks: object[] = [
    { type: 'header', text: { type: 'plain_text', text: `Approval needed: ${name}` } },
    { type: 'section', text: { type: 'mrkdwn', text: `\`${what}\`` } },
    { type: 'section', fields },
    ...(link ? [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in the kubegate console' }, url: link }] }] : []),
    { type: 'context', elements: [{ type: 'mrkdwn', text: `Or: \`${approve}\`` }] },
  ];
  return { text, blocks };
}

/** POSTs `message`; a 2xx within `timeoutMs` is delivered, anything else a `NotifyError`. */
export async function postNotification(url: string, message: SlackMessage, timeoutMs = 5000): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message), signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    // the error's own text can carry the URL; its cause's code says enough
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new NotifyError('WebhookFailed', `the webhook could not be reached (${cause})`);
  }
  await response.body?.cancel();
  if (!response.ok) throw new NotifyError('WebhookFailed', `the webhook answered ${response.status}`);
}
