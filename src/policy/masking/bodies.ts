/**
 * Which masking a response passes through (and what is recorded of a request body), chosen from the request (never from the body): JSON bodies —
 * single objects, lists, Tables, watch streams — through the streaming JSON masker; text (logs) through
 * the pattern masker; nothing when the policy masks nothing there. A body that must be masked but comes
 * in a form the maskers cannot read (protobuf) is refused rather than passed in clear (invariant 9);
 * `preferJson` keeps that from happening by asking the API server for JSON.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { recordedBody, type RecordedBody } from '../../util/recorded-body.js';
import { maskContextFor, maskedValue, outputIdleMs, streamMaskerTransform, type MaskContext, type MaskedResource, type Masker, type PathSegment } from './masker.js';

function masksAnything(masker: Masker, resource: MaskedResource): { json: boolean; text: boolean } {
  return { json: masker.masksJson(maskContextFor(resource)), text: masker.masksText };
}

/** Rewrites Accept so that a response the policy masks arrives as JSON. */
export function preferJson(masker: Masker, resource: MaskedResource, headers: OutgoingHttpHeaders): void {
  if (!masksAnything(masker, resource).json) return;
  const accept = String(headers.accept ?? '');
  const kept = accept.split(',').filter((type) => type.trim() !== '' && !type.includes('protobuf') && !type.includes('cbor'));
  headers.accept = kept.length > 0 ? kept.join(',') : 'application/json';
}

export function responseMasking(masker: Masker, resource: MaskedResource, headers: IncomingHttpHeaders): Transform | undefined {
  const { json, text } = masksAnything(masker, resource);
  const type = String(headers['content-type'] ?? '');
  if (type.includes('json')) return json ? streamMaskerTransform(masker.createJsonStreamMasker(maskContextFor(resource))) : undefined;
  if (type.startsWith('text/')) return text ? streamMaskerTransform(masker.createStreamMasker(), { releaseAfterMs: outputIdleMs }) : undefined;
  if (!json) return undefined;
  return new Transform({
    transform(_chunk, _encoding, done) {
      done(new Error(`refusing to pass a ${type || 'binary'} body that the policy requires masked`));
    },
  });
}

/** A JSON pointer (RFC 6901) as a masking path; array indexes (and `-`, the end) as numbers, so `[*]` steps apply. */
function pointerPath(pointer: string): PathSegment[] {
  return pointer
    .split('/')
    .slice(1)
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((token) => (/^(0|[1-9]\d*)$/.test(token) ? Number(token) : token === '-' ? 0 : token));
}

/**
 * A JSON patch (RFC 6902, a body that is an array: no other Kubernetes request body is one), masked:
 * each operation's `value` as if it sat where its `path` points (`/data/pw` of a Secret is Secret data);
 * a value whose place cannot be read is masked whole.
 */
function maskedJsonPatch(masker: Masker, operations: unknown[], context: MaskContext): unknown[] {
  return operations.map((operation) => {
    if (typeof operation !== 'object' || operation === null || Array.isArray(operation) || !('value' in operation)) return masker.maskObject(operation, context);
    const { value, ...rest } = operation as { value: unknown; path?: unknown };
    const at = typeof rest.path === 'string' && (rest.path === '' || rest.path.startsWith('/')) ? pointerPath(rest.path) : undefined;
    return { ...masker.maskObject(rest, context), value: at ? masker.maskValueAt(value, at, context) : maskedValue };
  });
}

/** Whether something put at `at` would be masked (a string there, or one beneath it). */
function masksAt(masker: Masker, at: PathSegment[], context: MaskContext): boolean {
  const probe = { probe: 'probe' };
  return masker.maskValueAt('probe', at, context) !== 'probe' || masker.maskValueAt(probe, at, context).probe !== 'probe';
}

/**
 * Why a JSON patch would take a masked value to where it is not masked — `copy` of a Secret's
 * `/data/pw` to an annotation, which every later response shows in clear — or undefined. Such a patch
 * must be refused: the value never passes through the gateway, so no masker could catch it.
 */
export function patchUnmasks(masker: Masker, attributes: MaskedResource, parsed: unknown): string | undefined {
  const context = maskContextFor(attributes);
  if (!Array.isArray(parsed) || !masker.masksJson(context)) return undefined;
  for (const operation of parsed as { op?: unknown; from?: unknown; path?: unknown }[]) {
    if (typeof operation !== 'object' || operation === null || (operation.op !== 'copy' && operation.op !== 'move') || typeof operation.from !== 'string') continue;
    const from = pointerPath(operation.from);
    const to = typeof operation.path === 'string' ? pointerPath(operation.path) : [];
    if (from.length === 0 || (masksAt(masker, from, context) && !masksAt(masker, to, context))) return `a JSON patch may not ${operation.op} the masked ${operation.from || 'object'} to ${String(operation.path)}`;
  }
  return undefined;
}

/** What a request body is, for the recording: its bytes, the object they stand for, and their type. */
export interface RequestBody {
  bytes: Buffer;
  /** The object the body stands for; undefined where it could not be read. */
  parsed: unknown;
  contentType?: string;
  /** Kubernetes protobuf: not text, so where it was read only the object it stands for is kept, as JSON. */
  binary?: boolean;
}

/**
 * What the recording keeps of a request body (invariant 9 holds for the store too), capped at `cap`
 * bytes: where the policy masks anything the body could contain, the object it stands for, masked like
 * a response (a body that could not be read cannot be masked, so it is not kept); a protobuf body that
 * was read, as JSON; any other body as sent — text as text, anything else as base64 (`recordedBody`).
 */
export function recordedRequestBody(masker: Masker, attributes: MaskedResource, request: RequestBody, cap: number): RecordedBody {
  const context = maskContextFor(attributes);
  const masks = masker.masksJson(context);
  const { bytes, parsed } = request;
  if (parsed !== undefined && (masks || request.binary)) {
    const object = !masks ? parsed : Array.isArray(parsed) ? maskedJsonPatch(masker, parsed, context) : masker.maskObject(parsed, context);
    const json = Buffer.from(JSON.stringify(object));
    return { ...recordedBody(json.subarray(0, cap), json.length, 'application/json'), bodyBytes: bytes.length };
  }
  if (masks) return { body: `[not recorded: a ${bytes.length}-byte ${request.binary ? 'binary body that could not be read' : 'body that is not JSON cannot be masked'}]`, bodyBytes: bytes.length };
  return recordedBody(bytes.subarray(0, cap), bytes.length, request.contentType);
}
