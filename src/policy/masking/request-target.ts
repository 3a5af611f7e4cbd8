/**
 * What the recording (and an ApprovalRequest) keeps of a request's target with the policy's patterns
 * applied (invariant 9): a secret can travel in a query string (`?token=…`, an exec `command=`
 * argument) or in the path of a proxy subresource as easily as in a body. Patterns are matched on the
 * decoded text — the same text the API server and the workload see — across the whole path or query
 * at once, so a match may span `/`, `&` or `=`; only the components a match touches are re-encoded,
 * everything else is kept byte for byte as sent.
 */
import type { Masker } from './masker.js';

/** The parts of the gateway's request attributes that carry text from the request target. */
export interface TargetAttributes {
  path: string;
  name: string;
  parts: string[];
  query: Readonly<Record<string, readonly string[]>>;
}

function decodeComponent(raw: string, plus: boolean): string {
  try {
    return decodeURIComponent(plus ? raw.replaceAll('+', ' ') : raw);
  } catch {
    return raw; // the gateway refuses malformed escapes before recording; kept as sent regardless
  }
}

/** Masks one path or query: its components decoded and joined with their separators, masked, re-encoded where changed. */
function maskComponents(masker: Masker, raw: string, separators: RegExp, plus: boolean): string {
  const pieces = raw.split(separators); // with a capturing group: component, separator, component, …
  const decoded = pieces.map((piece, i) => (i % 2 === 1 ? piece : decodeComponent(piece, plus)));
  const text = decoded.join('');
  const masked = masker.maskText(text); // as long as `text`: every masked code unit becomes one `*`
  if (masked === text) return raw;
  let at = 0;
  return pieces
    .map((piece, i) => {
      const part = masked.slice(at, (at += decoded[i]!.length));
      return i % 2 === 1 || part === decoded[i] ? piece : encodeURIComponent(part);
    })
    .join('');
}

/** The raw request target (`request.url`) with the policy's patterns masked. */
export function maskedTarget(masker: Masker, target: string): string {
  if (!masker.hasPatterns) return target; // every request goes through here: no split and decode when nothing can match
  const mark = target.indexOf('?');
  const path = maskComponents(masker, mark < 0 ? target : target.slice(0, mark), /(\/)/, false);
  return mark < 0 ? path : `${path}?${maskComponents(masker, target.slice(mark + 1), /([&=])/, true)}`;
}

/**
 * Texts masked as one, joined by `separator` (a match may span them, as in the command line the policy
 * reads), and split back: each text keeps its length.
 */
function maskJoined(masker: Masker, texts: readonly string[], separator: string): string[] {
  const masked = masker.maskText(texts.join(separator));
  let at = 0;
  return texts.map((text) => {
    const part = masked.slice(at, at + text.length);
    at += text.length + separator.length;
    return part;
  });
}

/** The request attributes with the policy's patterns masked in every text taken from the target. */
export function maskedAttributes<T extends TargetAttributes>(masker: Masker, attributes: T): T {
  if (!masker.hasPatterns) return attributes;
  const query: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
  for (const [key, values] of Object.entries(attributes.query)) query[masker.maskText(key)] = maskJoined(masker, values, ' ');
  return { ...attributes, path: masker.maskText(attributes.path), name: masker.maskText(attributes.name), parts: maskJoined(masker, attributes.parts, '/'), query };
}

/** An exec command with the policy's patterns masked in its arguments, read as the command line the policy matches (joined by spaces). */
export function maskedCommand(masker: Masker, command: readonly string[]): string[] {
  if (!masker.hasPatterns) return [...command];
  return maskJoined(masker, command, ' ');
}
