/**
 * What the API server was asked, from its own `apiserver_request_total` counter (read as admin from
 * /metrics): requests by verb and resource between two readings, so a bench can say what each unit of
 * its work cost the API server in calls, not only in CPU.
 */
import * as k8s from '@kubernetes/client-node';

/** Requests so far by `VERB resource[/subresource]` (watches and long-running calls included). */
export async function apiRequestCounts(admin: k8s.KubeConfig): Promise<Map<string, number>> {
  const context = new k8s.RequestContext(`${admin.getCurrentCluster()!.server}/metrics`, k8s.HttpMethod.GET);
  await admin.applySecurityAuthentication(context);
  const response = await new k8s.IsomorphicFetchHttpLibrary().send(context).toPromise();
  const text = await response.body.text();
  if (response.httpStatusCode !== 200) throw new Error(`GET /metrics: HTTP ${response.httpStatusCode}`);
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? '';
    const subresource = label('subresource');
    const key = `${label('verb')} ${label('resource')}${subresource ? `/${subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** `after − before` per key, largest first, without keys that did not move. */
export function requestsBetween(before: Map<string, number>, after: Map<string, number>): Array<[string, number]> {
  return [...after]
    .map(([key, count]): [string, number] => [key, count - (before.get(key) ?? 0)])
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1]);
}
