/**
 * The resources the API server serves (`group/resource`, '' for the core group), for checking that a
 * policy names real resources. Built from discovery: /api/v1 and the preferred version of each group.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ResourceCatalog } from '../policy/compile.js';
import type { RawKubeClient } from '../kube/raw-client.js';

/** Asked over `raw`'s kept-alive connections: a request of its own each was a TLS handshake each, some 30 a minute. */
export async function resourceCatalog(raw: RawKubeClient): Promise<ResourceCatalog> {
  const catalog: ResourceCatalog = new Set();
  const add = (group: string, list: k8s.V1APIResourceList) => {
    for (const resource of list.resources) if (!resource.name.includes('/')) catalog.add(`${group}/${resource.name}`);
  };
  add('', await raw.requestJson<k8s.V1APIResourceList>('GET', '/api/v1'));
  const groups = await raw.requestJson<k8s.V1APIGroupList>('GET', '/apis');
  await Promise.all(
    groups.groups.map(async (group) => {
      const version = group.preferredVersion?.groupVersion ?? group.versions[0]?.groupVersion;
      if (version) add(group.name, await raw.requestJson<k8s.V1APIResourceList>('GET', `/apis/${version}`));
    }),
  );
  return catalog;
}
