/**
 * Which masking a response passes through (and what is recorded of a request body), chosen from the request (never from the body): JSON bodies —
 * single objects, lists, Tables, watch streams — through the streaming JSON masker; text (logs) through
 * the pattern masker; nothing when the policy masks nothing there. A body that must be masked but comes
 * in a form the maskers cannot read (protobuf) is refused rather than passed in clear (invariant 9);
 * `preferJson` keeps that from happening by asking the API server for JSON.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { maskContextFor, outputIdleMs, streamMaskerTransform, type MaskedResource, type Masker } from './masker.js';

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

/**
 * What the recording keeps of a request body (invariant 9 holds for the store too): JSON masked like a
 * response, capped at `cap` bytes; a body in another encoding is kept only where the policy masks nothing
 * it could contain, since it cannot be masked. `parsed` is the object the body stands for (undefined
 * where it could not be read); a `binary` body (Kubernetes protobuf) is not text, so only that object is
 * kept, as JSON.
 */
export function recordedRequestBody(masker: Masker, attributes: MaskedResource, body: Buffer, parsed: unknown, cap: number, binary = false): { body: string; bodyBytes: number; bodyTruncated?: true } {
  const context = maskContextFor(attributes);
  const masks = masker.masksJson(context);
  let text: string;
  if (parsed !== undefined) text = masks ? JSON.stringify(masker.maskObject(parsed, context)) : binary ? JSON.stringify(parsed) : body.toString('utf8');
  else if (binary) return { body: `[not recorded: a ${body.length}-byte binary body that could not be read]`, bodyBytes: body.length };
  else if (!masks) text = body.toString('utf8');
  else return { body: `[not recorded: a ${body.length}-byte body that is not JSON cannot be masked]`, bodyBytes: body.length };
  const encoded = Buffer.from(text);
  return { body: encoded.subarray(0, cap).toString('utf8'), bodyBytes: body.length, ...(encoded.length > cap ? { bodyTruncated: true as const } : {}) };
}
