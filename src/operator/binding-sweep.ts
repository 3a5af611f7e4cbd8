/**
 * The safety sweep: on a cron schedule, every binding labelled `kubegate.dev/grant` whose grant is not
 * Active — deleted, re-created under a new uid, expired, revoked or denied — is deleted. It catches what
 * a missed event or a crash between two writes could leave behind; the reconciler is the first line.
 */
import { CronJob } from 'cron';
import { grantLabel, type AccessGrant } from '../api/index.js';
import { deleteIfExists, type KubeClients } from '../kube/client.js';
import { grantRefAnnotation, listGrantBindings } from './grant-bindings.js';
import { accessGrants, apiVersionOf } from '../kube/resources.js';

export async function sweepBindings(clients: KubeClients): Promise<string[]> {
  // Bindings first, grants second: a grant is marked Active before its bindings are written, so any
  // binding seen here belongs to a grant that the later read shows Active — unless it really ended.
  const bindings = await listGrantBindings(clients);
  // page by page, keeping only the uid of each Active grant (not thousands of whole grants)
  const activeUid = (grant: AccessGrant) => (grant.status?.phase === 'Active' && !grant.metadata?.deletionTimestamp ? grant.metadata!.uid! : '');
  const grants = await clients.raw.list(`/apis/${apiVersionOf(accessGrants)}/${accessGrants.plural}`, { transform: activeUid });
  const active = new Set(grants.items.filter(Boolean));
  const removed: string[] = [];
  for (const binding of bindings) {
    if (active.has(binding.metadata?.labels?.[grantLabel] ?? '')) continue;
    if (await deleteIfExists(clients, binding)) {
      removed.push(`${binding.kind} ${binding.metadata?.namespace ? `${binding.metadata.namespace}/` : ''}${binding.metadata?.name} (grant ${binding.metadata?.annotations?.[grantRefAnnotation] ?? '?'})`);
    }
  }
  return removed;
}

export function scheduleSweep(options: { clients: KubeClients; cronTime: string; onResult: (removed: string[]) => void; onError: (error: unknown) => void }): CronJob {
  return CronJob.from({
    cronTime: options.cronTime,
    start: true,
    timeZone: 'UTC',
    waitForCompletion: true,
    onTick: async () => {
      try {
        options.onResult(await sweepBindings(options.clients));
      } catch (error) {
        options.onError(error);
      }
    },
  });
}
