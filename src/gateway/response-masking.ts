/**
 * Which masking a response passes through, chosen from the request (never from the body): JSON bodies —
 * single objects, lists, Tables, watch streams — through the streaming JSON masker; text (logs) through
 * the pattern masker; nothing when the policy masks nothing there. A body that must be masked but comes
 * in a form the maskers cannot read (protobuf) is refused rather than passed in clear (invariant 9);
 * `preferJson` keeps that from happening by asking the API server for JSON.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import type { Admitted } from './admit.js';
import { maskContextFor, streamMaskerTransform } from './masking.js';

function masksAnything(admitted: Admitted): { json: boolean; text: boolean } {
  const masker = admitted.state.engine.masking;
  return { json: masker.masksJson(maskContextFor(admitted.attributes)), text: masker.masksText };
}

/** Rewrites Accept so that a response the policy masks arrives as JSON. */
export function preferJson(admitted: Admitted, headers: OutgoingHttpHeaders): void {
  if (!masksAnything(admitted).json) return;
  const accept = String(headers.accept ?? '');
  const kept = accept.split(',').filter((type) => type.trim() !== '' && !type.includes('protobuf') && !type.includes('cbor'));
  headers.accept = kept.length > 0 ? kept.join(',') : 'application/json';
}

export function responseMasking(admitted: Admitted, headers: IncomingHttpHeaders): Transform | undefined {
  const { json, text } = masksAnything(admitted);
  const type = String(headers['content-type'] ?? '');
  const masker = admitted.state.engine.masking;
  if (type.includes('json')) return json ? streamMaskerTransform(masker.createJsonStreamMasker(maskContextFor(admitted.attributes))) : undefined;
  if (type.startsWith('text/')) return text ? streamMaskerTransform(masker.createStreamMasker()) : undefined;
  if (!json) return undefined;
  return new Transform({
    transform(_chunk, _encoding, done) {
      done(new Error(`refusing to pass a ${type || 'binary'} body that the policy requires masked`));
    },
  });
}
