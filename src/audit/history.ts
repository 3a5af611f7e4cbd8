/**
 * `kubegate history RESOURCE/NAME`: every recorded call on one object, across all sessions and subjects,
 * in time order — from the per-object index (format v4, `objects/<group>/<resource>/<namespace>/<name>/`):
 * one prefix listing of the object's folder and the files of the days asked for, never a scan of the
 * sessions. (Sessions recorded before v4 have no per-object index: `sessions search` finds their calls.)
 *
 * Resources are named as kubectl takes them (`pods/NAME`, `po/NAME`, `deploy/NAME`, `namespace/NAME`,
 * `widgets.example.com/NAME`): the built-in resources come from the table below, not from discovery, so
 * history works without a cluster (the cluster may be gone; the store is what an auditor has). Any other
 * resource is given as `RESOURCE.GROUP` (core: `RESOURCE` only when built in).
 */
import { text } from 'node:stream/consumers';
import { assertReadableVersion, objectFolder, type ObjectRef } from '../recording/format.js';
import type { ObjectIndexEntry } from '../recording/object-index.js';
import type { RecordingStore } from '../recording/store.js';
import { canonicalResource } from './api-call.js';
import type { TimeRange } from './query.js';
import { callMatches, type Selection } from './selection.js';

/** The built-in resources: API group and whether namespaced. */
const builtIn: Record<string, { group: string; namespaced: boolean }> = {};
const groups: Array<[group: string, namespaced: string[], cluster: string[]]> = [
  ['', ['pods', 'services', 'configmaps', 'secrets', 'serviceaccounts', 'persistentvolumeclaims', 'endpoints', 'events', 'limitranges', 'resourcequotas', 'replicationcontrollers', 'podtemplates'], ['namespaces', 'nodes', 'persistentvolumes']],
  ['apps', ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'controllerrevisions'], []],
  ['batch', ['jobs', 'cronjobs'], []],
  ['autoscaling', ['horizontalpodautoscalers'], []],
  ['policy', ['poddisruptionbudgets'], []],
  ['networking.k8s.io', ['ingresses', 'networkpolicies'], ['ingressclasses']],
  ['rbac.authorization.k8s.io', ['roles', 'rolebindings'], ['clusterroles', 'clusterrolebindings']],
  ['storage.k8s.io', [], ['storageclasses', 'csidrivers', 'csinodes', 'volumeattachments']],
  ['coordination.k8s.io', ['leases'], []],
  ['discovery.k8s.io', ['endpointslices'], []],
  ['scheduling.k8s.io', [], ['priorityclasses']],
  ['apiextensions.k8s.io', [], ['customresourcedefinitions']],
  ['admissionregistration.k8s.io', [], ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']],
  ['kubegate.dev', ['accessgrants', 'accesspolicies', 'approvalrequests'], []],
];
for (const [group, namespaced, cluster] of groups) {
  for (const resource of namespaced) builtIn[resource] = { group, namespaced: true };
  for (const resource of cluster) builtIn[resource] = { group, namespaced: false };
}

/** `RESOURCE/NAME` as kubectl takes it, and the namespace: the object's folder in the per-object index. */
export function objectRef(target: string, namespace: string | undefined): ObjectRef & { namespaced: boolean } {
  const slash = target.indexOf('/');
  if (slash <= 0 || slash === target.length - 1) throw new Error(`give the object as RESOURCE/NAME (pods/api-7, namespace/payments), got "${target}"`);
  const [typed, name] = [target.slice(0, slash).toLowerCase(), target.slice(slash + 1)];
  const dot = typed.indexOf('.');
  const resource = canonicalResource(dot < 0 ? typed : typed.slice(0, dot));
  const known = builtIn[resource];
  const group = dot < 0 ? known?.group : typed.slice(dot + 1);
  if (group === undefined) throw new Error(`"${typed}" is not a built-in resource: give it as RESOURCE.GROUP/NAME (e.g. widgets.example.com/${name})`);
  // a resource of another group: namespaced when a namespace is given
  const namespaced = known && known.group === group ? known.namespaced : namespace !== undefined;
  if (!namespaced && namespace !== undefined && known) throw new Error(`${resource} are cluster-scoped: drop -n`);
  return { group, resource, namespace: namespaced ? (namespace ?? 'default') : '', name, namespaced };
}

export interface HistoryQuery {
  ref: ObjectRef & { namespaced: boolean };
  /** Every namespace's object of that name (`--all-namespaces`). */
  allNamespaces: boolean;
  range: TimeRange;
  selection: Selection;
}

/** The object index files of the query, by the day in their key, within the range. */
async function* indexFiles(store: RecordingStore, query: HistoryQuery): AsyncGenerator<string> {
  const { ref, range } = query;
  const folder = objectFolder(ref);
  // objects/<group>/<resource>/<namespace>/<name>/YYYY/MM/DD/<file>: every namespace is the resource's folder
  const prefix = query.allNamespaces && ref.namespaced ? folder.split('/').slice(0, 3).join('/') + '/' : folder;
  const [from, to] = [range.from.toISOString().slice(0, 10), range.to.toISOString().slice(0, 10)];
  const nameSegment = folder.split('/')[4];
  for await (const object of store.list(prefix)) {
    const parts = object.key.split('/');
    if (parts.length !== 9 || parts[4] !== nameSegment) continue;
    const day = parts.slice(5, 8).join('-');
    if (day >= from && day <= to) yield object.key;
  }
}

async function entriesOf(store: RecordingStore, key: string): Promise<ObjectIndexEntry[]> {
  const lines = (await text(await store.get(key))).split('\n').filter((line) => line !== '');
  return lines.map((line, i) => {
    const entry = JSON.parse(line) as ObjectIndexEntry;
    assertReadableVersion(entry.v, `${key} line ${i + 1}`);
    return entry;
  });
}

/** The object's calls in the range that the selection picks, oldest first (ties: by session, writer and seq). */
export async function objectHistory(store: RecordingStore, query: HistoryQuery): Promise<ObjectIndexEntry[]> {
  const keys: string[] = [];
  for await (const key of indexFiles(store, query)) keys.push(key);
  const entries: ObjectIndexEntry[] = [];
  // the files are small and independent: read a few at a time
  for (let i = 0; i < keys.length; i += 16) {
    for (const batch of await Promise.all(keys.slice(i, i + 16).map((key) => entriesOf(store, key)))) entries.push(...batch);
  }
  const { from, to } = query.range;
  const [fromIso, toIso] = [from.toISOString(), to.toISOString()];
  return entries
    .filter((entry) => entry.time >= fromIso && entry.time <= toIso && callMatches(entry, query.selection))
    .sort((a, b) => a.time.localeCompare(b.time) || a.session.localeCompare(b.session) || a.writer.localeCompare(b.writer) || a.seq - b.seq);
}
