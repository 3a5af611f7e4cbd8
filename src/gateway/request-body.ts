/**
 * The object a write's body carries, read the way the API server reads it — or undefined where the
 * gateway cannot be sure it reads the same: then the escalation check fails closed on the request and
 * the recording keeps no unmasked copy of the body.
 *
 * The API server picks the decoder by Content-Type (JSON when there is none). YAML bodies
 * (`application/yaml`, and server-side apply's `application/apply-patch+yaml`) it turns into JSON with
 * sigs.k8s.io/yaml, which reads YAML 1.1 (go-yaml v2): `yes`, `on`, `y` are booleans there, `0777` is
 * octal, `<<` merges. The `yaml` package read under its 1.1 schema comes close, not exactly; so a body is
 * read under both 1.1 and 1.2, and one whose readings differ (where the ambiguity lives) is not read at
 * all. Duplicate keys, several documents, a `%YAML` directive, unknown tags: not read either.
 * Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) is read by src/kube/kube-protobuf.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseDocument } from 'yaml';
import { mediaType } from '../util/media-type.js';
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from '../kube/kube-protobuf.js';

const jsonTypes = new Set(['application/json', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);
const yamlTypes = new Set(['application/yaml', 'application/apply-patch+yaml']);
const unreadable = Symbol('unreadable');
/** go-yaml refuses bytes that are not UTF-8 but reads UTF-16 after a byte-order mark: neither is read here. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function readJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function readYamlAs(text: string, version: '1.1' | '1.2'): unknown {
  const document = parseDocument(text, { version, uniqueKeys: true, strict: true, logLevel: 'error' });
  // a directive would make both readings follow it, and go-yaml v2 takes none but 1.1
  if (document.errors.length > 0 || document.warnings.length > 0 || document.directives?.yaml.explicit) return unreadable;
  try {
    return document.toJS({ maxAliasCount: 100 }) as unknown;
  } catch {
    return unreadable; // too many aliases (a billion laughs)
  }
}

/** kube-protobuf.ts refuses (throws on) any body the API server could read differently. */
function readProtobuf(bytes: Buffer): unknown {
  try {
    return decodeKubernetesProtobuf(bytes);
  } catch {
    return undefined;
  }
}

function readYaml(bytes: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  const asServer = readYamlAs(text, '1.1');
  if (asServer === unreadable || !isDeepStrictEqual(asServer, readYamlAs(text, '1.2'))) return undefined;
  return asServer;
}

/**
 * Kubernetes objects nest a few dozen levels; a body nested far deeper is an attack on the parsers
 * (a YAML flow sequence 20,000 deep aborts V8 inside the `yaml` package, beyond any try/catch) and is not
 * read: as any unreadable body, it counts as an escalation and is not recorded unmasked.
 */
export const maxBodyNesting = 100;
/** Leading spaces of a YAML line: block nesting, which brackets do not show. */
const maxYamlIndent = 2 * maxBodyNesting;

/**
 * Whether the text nests no deeper than allowed. JSON: brackets and braces outside strings. YAML: every
 * bracket and brace, quoted or not (a quote's reach in YAML depends on where it stands; counting all is
 * the safe side), and the leading spaces and dashes of each line.
 */
function shallowEnough(text: string, yaml: boolean): boolean {
  let depth = 0;
  let inString = false;
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '\n') [lineStart, indent] = [true, 0];
    else if (yaml && lineStart && (c === ' ' || c === '-')) {
      if (++indent > maxYamlIndent) return false;
    } else lineStart = false;
    if (c === '"' && !yaml) inString = true;
    else if (c === '[' || c === '{') {
      if (++depth > maxBodyNesting) return false;
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return true;
}

/** The request body as an object (or any JSON value), or undefined when it is not one the gateway reads. */
export function readObject(contentType: string | undefined, bytes: Buffer): unknown {
  const type = mediaType(contentType) || 'application/json';
  if (jsonTypes.has(type)) {
    const text = bytes.toString('utf8');
    return shallowEnough(text, false) ? readJson(text) : undefined;
  }
  if (yamlTypes.has(type)) return shallowEnough(bytes.toString('utf8'), true) ? readYaml(bytes) : undefined;
  if (isKubernetesProtobuf(type)) return readProtobuf(bytes);
  return undefined; // CBOR, or a type the API server refuses
}
