/**
 * Objects of any kind, addressed by apiVersion, kind, namespace and name: read, created, applied
 * (server-side apply, forced, under one field manager) and deleted as JSON over `RawKubeClient`'s
 * kept-alive connections. It does what client-node's `KubernetesObjectApi` did for the operator without
 * that one's cost per call (undici fetch, web streams, the generated ObjectSerializer: about 2 ms, most
 * of the operator's CPU per grant). Where a kind's collection is, and whether it is namespaced, comes from
 * the API server's discovery, asked once per group version.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RawKubeClient } from './raw-client.js';

interface Resource {
  plural: string;
  namespaced: boolean;
}

/** A group version's discovery document (`APIResourceList`), as much of it as is read. */
interface ResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

const groupVersionPath = (apiVersion: string) => (apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);

export class ObjectClient {
  private readonly groupVersions = new Map<string, Promise<Map<string, Resource>>>();

  constructor(
    private readonly raw: RawKubeClient,
    private readonly fieldManager: string,
  ) {}

  read<T extends KubernetesObject>(object: KubernetesObject): Promise<T> {
    return this.path(object).then((path) => this.raw.requestJson<T>('GET', path));
  }

  async create<T extends KubernetesObject>(object: T): Promise<T> {
    const collection = await this.path(object, false);
    return this.raw.requestJson<T>('POST', `${collection}?fieldManager=${this.fieldManager}`, object);
  }

  /** Server-side apply of a complete desired object, taking over any field another manager holds. */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    const path = await this.path(object);
    // JSON is YAML: the apply content type takes it as it is
    return this.raw.requestJson<T>('PATCH', `${path}?fieldManager=${this.fieldManager}&force=true`, object, 'application/apply-patch+yaml');
  }

  /** `body`: DeleteOptions (preconditions). */
  async delete(object: KubernetesObject, body?: object): Promise<void> {
    await this.raw.requestJson('DELETE', await this.path(object), body);
  }

  /** The API path of `object` (`named`: false, of its collection). */
  async path(object: KubernetesObject, named = true): Promise<string> {
    const { apiVersion, kind, metadata } = object;
    if (!apiVersion || !kind) throw new Error(`an object without apiVersion and kind cannot be addressed (${metadata?.name})`);
    const { plural, namespaced } = await this.resource(apiVersion, kind);
    const namespace = namespaced ? `/namespaces/${encodeURIComponent(metadata?.namespace ?? 'default')}` : '';
    const name = named ? `/${encodeURIComponent(metadata!.name!)}` : '';
    return `${groupVersionPath(apiVersion)}${namespace}/${plural}${name}`;
  }

  private async resource(apiVersion: string, kind: string): Promise<Resource> {
    const known = (await this.discover(apiVersion)).get(kind);
    if (known) return known;
    // perhaps a kind installed since it was asked (a CRD): asked again, once
    this.groupVersions.delete(apiVersion);
    const found = (await this.discover(apiVersion)).get(kind);
    if (!found) throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
    return found;
  }

  private discover(apiVersion: string): Promise<Map<string, Resource>> {
    let resources = this.groupVersions.get(apiVersion);
    if (!resources) {
      resources = this.raw.requestJson<ResourceList>('GET', groupVersionPath(apiVersion)).then(
        (list) => new Map(list.resources.filter((r) => !r.name.includes('/')).map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }])),
      );
      resources.catch(() => this.groupVersions.delete(apiVersion)); // a failed discovery is asked again next time
      this.groupVersions.set(apiVersion, resources);
    }
    return resources;
  }
}
