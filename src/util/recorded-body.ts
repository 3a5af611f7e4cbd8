/**
 * How a request or response body goes into the recording (FORMAT.md, v3): as text where it is text — a
 * JSON, YAML or `text/*` media type (or none given), in UTF-8 or US-ASCII, whose bytes decode as UTF-8 —
 * else as base64 with `bodyEncoding: 'base64'`, so that a protobuf, CBOR or any other binary body is kept
 * byte for byte instead of as lossy UTF-8. Whether a body may be recorded at all (it must not hold
 * anything the policy masks, invariant 9) is the caller's decision; this only chooses the encoding.
 */

import { mediaType, mediaTypeParameters } from './media-type.js';

export interface RecordedBody {
  body: string;
  /** Present where `body` is base64 of the bytes; absent where it is the text itself. */
  bodyEncoding?: 'base64';
  /** The body's full size; `body` holds at most its first `cap` bytes. */
  bodyBytes: number;
  bodyTruncated?: true;
}

/** Whether a Content-Type names a body that is text: JSON, YAML or text/*, in a charset UTF-8 reads. */
export function isTextContentType(contentType: string | undefined): boolean {
  if ((contentType ?? '').trim() === '') return true;
  const type = mediaType(contentType);
  const charset = mediaTypeParameters(contentType).find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
  if (charset !== undefined && !['utf-8', 'utf8', 'us-ascii'].includes(charset)) return false;
  return type.startsWith('text/') || /^application\/(?:[\w.-]+\+)?(?:json|yaml)$/.test(type) || type === 'application/x-yaml';
}

/**
 * The recording of a body of `total` bytes of which `kept` are the first ones (all of them when it is not
 * truncated). A text body cut mid-character loses that character's first bytes rather than gaining a
 * replacement character.
 */
export function recordedBody(kept: Buffer, total: number, contentType: string | undefined): RecordedBody {
  const truncated = total > kept.length;
  const size = { bodyBytes: total, ...(truncated ? { bodyTruncated: true as const } : {}) };
  if (isTextContentType(contentType)) {
    try {
      return { body: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(kept, { stream: truncated }), ...size };
    } catch {
      // not UTF-8 whatever the header says: kept as bytes
    }
  }
  return { body: kept.toString('base64'), bodyEncoding: 'base64', ...size };
}
