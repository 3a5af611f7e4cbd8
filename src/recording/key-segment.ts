/**
 * The one encoder of a recording key's segments (date parts, subject, session id, writer id): whatever
 * the text — `.`, `..`, `a/b`, empty, `%`, unicode — its segment is one path part that a file system and
 * S3 both keep as it is, inside its folder, and decodes back to the text.
 *
 *  - Bytes of the text's UTF-8 outside `A-Z a-z 0-9 - _ .` become `%XX` (upper-case hex), and so does a
 *    leading `.` (no `.`, `..` or hidden name); the empty text is `%` alone. Kubernetes names, UUIDs and
 *    dates come out unchanged.
 *  - A segment longer than `maxKeySegmentLength` (a file name holds 255 bytes; an S3 key 1024) keeps its
 *    first part and ends in `~` and 16 hex digits of the text's SHA-256, and so does a text that is not
 *    well-formed UTF-16 (a lone surrogate has no UTF-8). Such a segment still names its text alone, but
 *    does not decode: the index and the `session-start` event hold the whole name.
 *
 * An encoded segment never contains `/`, and `~` only when shortened, so decoding is exact: only the
 * encoder's own output decodes (`%41` for `A`, lower-case hex or invalid UTF-8 do not).
 */
import { createHash } from 'node:crypto';

export const maxKeySegmentLength = 200;

const keptBytes = /^[A-Za-z0-9_.-]$/;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const hashDigits = 16;

export function encodeKeySegment(text: string): string {
  if (text.search(loneSurrogate) >= 0) return shortened(escape(text.replace(loneSurrogate, '\uFFFD')), text);
  const encoded = escape(text);
  return encoded.length > maxKeySegmentLength ? shortened(encoded, text) : encoded;
}

/** The text a segment encodes; undefined for a shortened segment or one the encoder cannot have written. */
export function decodeKeySegment(segment: string): string | undefined {
  if (segment === '%') return '';
  if (!/^(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})+$/.test(segment)) return undefined;
  const bytes = Buffer.from(segment.replace(/%([0-9A-F]{2})|[^%]/g, (char, hex: string | undefined) => (hex ? String.fromCharCode(parseInt(hex, 16)) : char)), 'latin1');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
  return encodeKeySegment(text) === segment ? text : undefined;
}

function escape(text: string): string {
  if (text === '') return '%';
  let encoded = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += keptBytes.test(char) && !(encoded === '' && char === '.') ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** The first part of `encoded` (never a cut `%XX`), `~`, and a hash of the whole text (its UTF-16, so a lone surrogate counts). */
function shortened(encoded: string, text: string): string {
  let head = encoded.slice(0, maxKeySegmentLength - hashDigits - 1);
  const cut = head.lastIndexOf('%');
  if (cut >= head.length - 2) head = head.slice(0, cut);
  return `${head}~${createHash('sha256').update(text, 'utf16le').digest('hex').slice(0, hashDigits)}`;
}
