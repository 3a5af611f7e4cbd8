/**
 * Kubernetes request attributes from an HTTP method and request target, computed the way kube-apiserver's
 * RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so that the policy
 * decides on the very verb, resource, namespace and name the API server will authorize and serve.
 *
 * The gateway forwards the request target unchanged, and the API server parses it with Go's URL parser.
 * Wherever two parsers could read one target two ways — an encoded slash that Go decodes into a new path
 * segment, an encoded or literal dot segment, an empty segment, a backslash, a control character, bytes
 * that are not UTF-8, a `;` in the query — the request is refused with a typed error instead of guessed
 * at: a gateway that reads a path differently from the server it protects is a policy bypass. Nothing is
 * case-folded: the API server is case-sensitive, so `/API/v1/Secrets` is simply another (non-resource) path.
 */
import { GatewayError } from './errors.js';

/** What kube-apiserver's RequestInfo carries, plus the decoded query the gateway records and matches on. */
export interface RequestAttributes {
  isResourceRequest: boolean;
  /** The percent-decoded path, as the API server's `req.URL.Path` (a trailing slash is kept). */
  path: string;
  /** The Kubernetes verb for resource requests; the lower-case HTTP method otherwise. */
  verb: string;
  apiPrefix: string;
  /** '' for the core group. */
  apiGroup: string;
  apiVersion: string;
  /** '' for cluster-scoped requests and requests across all namespaces. */
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The path parts from the resource on: resource, name, subresource, anything further. */
  parts: string[];
  /** Decoded query parameters with every value in order (a null-prototype object: no inherited keys). */
  query: Readonly<Record<string, readonly string[]>>;
}

/**
 * Longest request target accepted. An exec with a long script in `command=` parameters stays far below;
 * the bound keeps one request's parsing cost small.
 */
export const maxRequestTargetLength = 64 * 1024;

const apiPrefixes = new Set(['api', 'apis']);
const grouplessApiPrefixes = new Set(['api']);
/** Legacy verbs spelled as a path part right after the version: `/api/v1/watch/pods`. */
const specialVerbs = new Set(['proxy', 'watch']);
const specialVerbsNoSubresources = new Set(['proxy']);
/** What may follow `/namespaces/{name}` as the namespace's own subresource rather than a resource. */
const namespaceSubresources = new Set(['status', 'finalize']);
/** Streaming subresources of pods: upgraded (GET) or not (POST), the API server authorizes them as `create`. */
const connectSubresources = new Set(['exec', 'attach', 'portforward']);
/** Core resources whose `proxy` subresource relays to a pod, service or node (and may carry an upgrade). */
const proxiedResources = new Set(['pods', 'services', 'nodes']);
const methodVerbs: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Percent-decodes one path segment or query component; `plus` turns `+` into a space (query only). */
function percentDecode(raw: string, plus: boolean): string {
  if (!raw.includes('%') && !(plus && raw.includes('+'))) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new GatewayError('KG_BAD_ESCAPE', `"%${hex}"`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(plus && c === 0x2b ? 0x20 : c);
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    throw new GatewayError('KG_NOT_UTF8');
  }
}

/** Printable ASCII only, no space, backslash or fragment: anything else arrives percent-encoded or not at all. */
function checkRawCharacters(target: string): void {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x5c || c === 0x23) throw new GatewayError('KG_FORBIDDEN_CHARACTER', `at offset ${i}`);
  }
}

function pathSegments(rawPath: string): string[] {
  if (rawPath === '/') return [];
  let inner = rawPath.slice(1);
  if (inner.endsWith('/')) inner = inner.slice(0, -1); // one trailing slash, as the API server accepts
  return inner.split('/').map((raw) => {
    if (raw === '') throw new GatewayError('KG_EMPTY_SEGMENT');
    if (raw === '.' || raw === '..') throw new GatewayError('KG_DOT_SEGMENT');
    if (/%2f/i.test(raw)) throw new GatewayError('KG_ENCODED_SLASH');
    if (/%2e/i.test(raw)) throw new GatewayError('KG_ENCODED_DOT');
    if (raw.includes('%25')) throw new GatewayError('KG_ENCODED_PERCENT');
    const segment = percentDecode(raw, false);
    // decoded control characters and backslashes: Go keeps them, other parsers strip or fold them
    if (/[\u0000-\u001f\u007f\\]/u.test(segment)) throw new GatewayError('KG_FORBIDDEN_CHARACTER', 'in a decoded path segment');
    return segment;
  });
}

/** Go's url.ParseQuery, except that what Go silently drops (`;`, bad escapes) is refused here. */
function parseQuery(rawQuery: string): Record<string, string[]> {
  const query: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  if (rawQuery.includes(';')) throw new GatewayError('KG_QUERY_SEMICOLON');
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = percentDecode(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = eq < 0 ? '' : percentDecode(pair.slice(eq + 1), true);
    (query[key] ??= []).push(value);
  }
  return query;
}

/**
 * The `metadata.name=…` term of a field selector, as fields.ParseSelector and RequiresExactMatch read it:
 * terms split at unescaped commas, `\` escapes `\`, `,` and `=`, the first exact term wins. Undefined
 * when the selector does not parse (the API server then sets no name either).
 */
function fieldSelectorName(selector: string): string | undefined {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < selector.length; i++) {
    if (escaped) escaped = false;
    else if (selector[i] === '\\') escaped = true;
    else if (selector[i] === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  let found: string | undefined;
  for (const term of terms) {
    if (term === '') continue;
    const op = /!=|==|=/.exec(term);
    if (!op) return undefined;
    const field = term.slice(0, op.index);
    let value = '';
    let slash = false;
    for (const c of term.slice(op.index + op[0].length)) {
      if (slash) {
        if (c !== '\\' && c !== ',' && c !== '=') return undefined;
        value += c;
        slash = false;
      } else if (c === '\\') slash = true;
      else if (c === ',' || c === '=') return undefined;
      else value += c;
    }
    if (slash) return undefined;
    if (found === undefined && op[0] !== '!=' && field === 'metadata.name') found = value;
  }
  return found;
}

/** path.IsValidPathSegmentName: the API server only takes a selector's name when it could be a path segment. */
function validPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** `?watch=…` as the API server's bool conversion reads the first value; non-ASCII is refused (Go's EqualFold folds `ſ` to `s`). */
function watchRequested(values: readonly string[] | undefined): boolean {
  const first = values?.[0];
  if (first === undefined) return false;
  if (/[^\x20-\x7e]/.test(first)) throw new GatewayError('KG_BAD_QUERY_VALUE', 'watch');
  return !(first === '0' || first.toLowerCase() === 'false');
}

/**
 * Whether a request may take the upgrade path (the bytes relayed after a 101, checked by a stream
 * decoder): exec, attach and port-forward of a pod, and the proxy subresources. Any other request with
 * an Upgrade header is refused: its response is an ordinary body that must be masked and recorded as one.
 */
export function mayUpgrade(attributes: RequestAttributes): boolean {
  if (!attributes.isResourceRequest || attributes.apiGroup !== '') return false;
  if (attributes.resource === 'pods' && connectSubresources.has(attributes.subresource)) return true;
  return proxiedResources.has(attributes.resource) && (attributes.subresource === 'proxy' || attributes.verb === 'proxy');
}

/**
 * Parses `method` and the raw request target (`request.url`: path and query, never decoded by Node) into
 * the attributes the API server authorizes. Throws GatewayError for anything ambiguous or malformed.
 */
export function parseRequestAttributes(method: string, rawUrl: string): RequestAttributes {
  const methodVerb = methodVerbs[method];
  if (methodVerb === undefined) throw new GatewayError('KG_METHOD_NOT_ALLOWED', method);
  if (rawUrl.length > maxRequestTargetLength) throw new GatewayError('KG_TARGET_TOO_LONG', `${rawUrl.length} characters, limit ${maxRequestTargetLength}`);
  if (!rawUrl.startsWith('/')) throw new GatewayError('KG_NOT_ORIGIN_FORM');
  checkRawCharacters(rawUrl);
  const mark = rawUrl.indexOf('?');
  const rawPath = mark < 0 ? rawUrl : rawUrl.slice(0, mark);
  const query = parseQuery(mark < 0 ? '' : rawUrl.slice(mark + 1));
  let current = pathSegments(rawPath);
  const path = current.length === 0 ? '/' : `/${current.join('/')}${rawPath.length > 1 && rawPath.endsWith('/') ? '/' : ''}`;

  const info: RequestAttributes = { isResourceRequest: false, path, verb: method.toLowerCase(), apiPrefix: '', apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', parts: [], query };
  if (current.length < 3 || !apiPrefixes.has(current[0]!)) return info;
  const apiPrefix = current[0]!;
  current = current.slice(1);
  let apiGroup = '';
  if (!grouplessApiPrefixes.has(apiPrefix)) {
    if (current.length < 3) return info;
    apiGroup = current[0]!;
    current = current.slice(1);
  }
  const apiVersion = current[0]!;
  current = current.slice(1);

  let verb = methodVerb;
  if (specialVerbs.has(current[0]!)) {
    if (current.length < 2) throw new GatewayError('KG_NO_RESOURCE', path);
    verb = current[0]!;
    current = current.slice(1);
  }
  let namespace = '';
  if (current[0] === 'namespaces' && current.length > 1) {
    namespace = current[1]!;
    if (current.length > 2 && !namespaceSubresources.has(current[2]!)) current = current.slice(2);
  }
  const parts = current;
  const hasSubresource = parts.length >= 3 && !specialVerbsNoSubresources.has(verb);
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = hasSubresource ? parts[2]! : '';

  if (name === '' && verb === 'get') {
    verb = watchRequested(query['watch']) ? 'watch' : 'list';
    const selected = query['fieldSelector']?.[0];
    const selectedName = selected === undefined ? undefined : fieldSelectorName(selected);
    if (selectedName !== undefined && validPathSegmentName(selectedName)) name = selectedName;
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  if (apiGroup === '' && resource === 'pods' && connectSubresources.has(subresource) && (method === 'GET' || method === 'POST')) verb = 'create';

  return { isResourceRequest: true, path, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts, query };
}

/** The `command` parameters of an exec request, in order (empty for anything else). */
export function execCommand(attributes: RequestAttributes): string[] {
  return attributes.subresource === 'exec' ? [...(attributes.query['command'] ?? [])] : [];
}
