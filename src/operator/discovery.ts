/**
 * The resources the API server serves (`group/resource`, '' for the core group), for checking that a
 * policy names real resources. Built from discovery: /api/v1 and the preferred version of each group.
 */
import { request } from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import type { ResourceCatalog } from '../policy/compile.js';

async function getJson<T>(config: k8s.KubeConfig, path: string): Promise<T> {
  const server = new URL(config.getCurrentCluster()!.server);
  const options: import('node:https').RequestOptions = { hostname: server.hostname, port: server.port, path, method: 'GET', headers: { accept: 'application/json' } };
  await config.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
        else resolve(JSON.parse(body) as T);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export async function resourceCatalog(config: k8s.KubeConfig): Promise<ResourceCatalog> {
  const catalog: ResourceCatalog = new Set();
  const add = (group: string, list: k8s.V1APIResourceList) => {
    for (const resource of list.resources) if (!resource.name.includes('/')) catalog.add(`${group}/${resource.name}`);
  };
  add('', await getJson<k8s.V1APIResourceList>(config, '/api/v1'));
  const groups = await getJson<k8s.V1APIGroupList>(config, '/apis');
  await Promise.all(
    groups.groups.map(async (group) => {
      const version = group.preferredVersion?.groupVersion ?? group.versions[0]?.groupVersion;
      if (version) add(group.name, await getJson<k8s.V1APIResourceList>(config, `/apis/${version}`));
    }),
  );
  return catalog;
}
