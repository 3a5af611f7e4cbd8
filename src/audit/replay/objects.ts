/**
 * Objects as a replay sees them: where an object lives (its API path, the key of everything the replay
 * knows about it), the objects a recorded read returned (GET, LIST and watch bodies), and an object
 * stripped of what the server sets, ready to be created in another cluster.
 */
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from '../../kube/kube-protobuf.js';
import type { RecordedBody, RecordedCall } from './calls.js';

export type KubeObject = Record<string, unknown> & { metadata?: Record<string, unknown> & { name?: string; namespace?: string; ownerReferences?: OwnerReference[] } };

export interface OwnerReference {
  kind: string;
  name: string;
  controller?: boolean;
}

/** The path without its query. */
export const pathOnly = (path: string) => path.split('?')[0]!.replace(/\/$/, '');

/** The API path of the object a call addresses (its subresource cut off); undefined for a collection. */
export function objectPath(call: RecordedCall): string | undefined {
  const { name, subresource } = call.attributes;
  if (!name) return undefined;
  const path = pathOnly(call.path);
  return subresource && path.endsWith(`/${subresource}`) ? path.slice(0, -subresource.length - 1) : path;
}

/** The API path of the collection a call addresses (for a create, where the object will be). */
export function collectionPath(call: RecordedCall): string {
  const object = objectPath(call);
  return object ? object.slice(0, object.lastIndexOf('/')) : pathOnly(call.path);
}

/** `…/namespaces/NS/RESOURCE` for an item of a list across namespaces (`/api/v1/pods`). */
function itemPath(listPath: string, item: KubeObject): string | undefined {
  const name = item.metadata?.name;
  if (!name) return undefined;
  const namespace = item.metadata?.namespace;
  if (!namespace || listPath.includes('/namespaces/')) return `${listPath}/${name}`;
  const cut = listPath.lastIndexOf('/');
  return `${listPath.slice(0, cut)}/namespaces/${namespace}${listPath.slice(cut)}/${name}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A body as a value: a Kubernetes protobuf object decoded, JSON parsed, anything else as its text (protobuf: base64). */
export function bodyValue(bytes: Buffer, contentType: string | undefined): unknown {
  const protobuf = isKubernetesProtobuf(contentType);
  try {
    return protobuf ? decodeKubernetesProtobuf(bytes) : JSON.parse(bytes.toString('utf8'));
  } catch {
    return bytes.toString(protobuf ? 'base64' : 'utf8');
  }
}

/** A recorded body as a value (see bodyValue); a protobuf body recorded as text is the JSON object it stood for. */
export function recordedValue(body: RecordedBody): unknown {
  return body.encoding === 'base64' ? bodyValue(Buffer.from(body.text, 'base64'), body.contentType) : (parseJson(body.text) ?? body.text);
}

const isObject = (value: unknown): value is KubeObject => typeof value === 'object' && value !== null && !Array.isArray(value) && (value as KubeObject).kind !== 'Status';

/** The value as an object (not a Status, not a list of values); undefined otherwise. */
export const asObject = (value: unknown): KubeObject | undefined => (isObject(value) ? value : undefined);

/** A list's item with the `apiVersion` and `kind` the list leaves out. */
function listItem(list: KubeObject, item: KubeObject): KubeObject {
  return { apiVersion: list.apiVersion, kind: String(list.kind).replace(/List$/, ''), ...item };
}

/**
 * The objects a successful read returned, by their API path: the object of a GET, the items of a LIST,
 * each object's last state in a watch (one JSON event a line). A cut or non-JSON body gives what it can.
 */
export function objectsRead(call: RecordedCall): Map<string, KubeObject> {
  const found = new Map<string, KubeObject>();
  const response = call.response;
  if (!response || response.status !== 200 || response.truncated || call.attributes.subresource) return found;
  const path = pathOnly(call.path);
  if (call.attributes.verb === 'get') {
    const object = recordedValue(response);
    if (isObject(object)) found.set(path, object);
  } else if (call.attributes.verb === 'list') {
    const list = asObject(recordedValue(response));
    for (const item of (list?.items as KubeObject[] | undefined) ?? []) {
      const at = itemPath(path, item);
      if (at) found.set(at, listItem(list!, item));
    }
  } else if (call.attributes.verb === 'watch' && response.encoding !== 'base64') {
    for (const line of response.text.split('\n')) {
      const event = parseJson(line) as { type?: string; object?: KubeObject } | undefined;
      const at = event?.object && itemPath(path, event.object);
      if (!at) continue;
      if (event!.type === 'DELETED') found.delete(at);
      else found.set(at, event!.object!);
    }
  }
  return found;
}

/** The controller that made this object (a ReplicaSet for its pods), if any. */
export function controllerOf(object: KubeObject | undefined): OwnerReference | undefined {
  return object?.metadata?.ownerReferences?.find((owner) => owner.controller);
}

const serverSet = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

/** The object as a client would create it: server-set metadata and `status` removed. */
export function stripServerFields(object: KubeObject): KubeObject {
  const { status: _status, metadata = {}, ...rest } = object;
  const kept = Object.fromEntries(Object.entries(metadata).filter(([key]) => !serverSet.includes(key)));
  return { ...rest, metadata: kept };
}
