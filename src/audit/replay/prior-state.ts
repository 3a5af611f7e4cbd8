/**
 * What a replay must put into the target before the first call: the objects the session read before it
 * changed them (from the recorded GET, LIST and watch responses), and the namespaces its calls work in
 * that it did not create itself — namespaces first. Objects a controller made (a ReplicaSet's pods) are
 * not seeded: the target's own controllers make them, and calls on them are matched by owner.
 */
import { callKind, type RecordedCall } from './calls.js';
import { asObject, bodyValue, controllerOf, objectPath, objectsRead, recordedValue, collectionPath, type KubeObject } from './objects.js';

export interface PriorState {
  /** Namespaces the calls need that the session did not create, with their recorded object when read. */
  namespaces: Map<string, KubeObject | undefined>;
  /** Objects to create before the replay, by API path, in the order the session first changed them. */
  objects: Map<string, KubeObject>;
}

/** The path of the object a create made (from its response, else from its body); undefined when neither names it. */
export function createdPath(call: RecordedCall, response: unknown = call.response && recordedValue(call.response)): string | undefined {
  const made = asObject(response) ?? (call.request && call.request.encoding !== 'base64' ? asObject(bodyValue(Buffer.from(call.request.text), 'application/json')) : undefined);
  const name = made?.metadata?.name ?? call.attributes.name;
  return name ? `${collectionPath(call)}/${name}` : undefined;
}

export function priorState(calls: RecordedCall[]): PriorState {
  const read = new Map<string, KubeObject>();
  const created = new Set<string>();
  const createdNamespaces = new Set<string>();
  const used = new Set<string>();
  const objects = new Map<string, KubeObject>();
  for (const call of calls) {
    const kind = callKind(call);
    if (kind === 'read') for (const [path, object] of objectsRead(call)) read.set(path, object);
    if (kind !== 'mutation') continue;
    const { verb, resource, namespace } = call.attributes;
    if (verb === 'create') {
      const path = createdPath(call);
      if (path) created.add(path);
      if (resource === 'namespaces' && path) createdNamespaces.add(path.slice(path.lastIndexOf('/') + 1));
    } else {
      const path = objectPath(call);
      const prior = path ? read.get(path) : undefined;
      if (path && prior && !created.has(path) && !objects.has(path) && !controllerOf(prior)) objects.set(path, prior);
    }
    if (namespace && !createdNamespaces.has(namespace)) used.add(namespace);
  }
  const namespaces = new Map([...used].map((name) => [name, read.get(`/api/v1/namespaces/${name}`)] as const));
  return { namespaces, objects };
}
