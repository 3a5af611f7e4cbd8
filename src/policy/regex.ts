/**
 * The regular expressions a policy author writes (masking patterns, a rule's `command`) are run as
 * JavaScript regexes with the `u` flag. People often write them in RE2/Go syntax — the API server's CEL
 * uses RE2 — whose way to ask for case-insensitive matching is a leading `(?i)` flag group, which
 * JavaScript rejects. A leading `(?i)` is therefore read as the `i` flag; any other inline flag group
 * stays invalid (and the policy's status says so).
 */

const caseInsensitivePrefix = '(?i)';

/** The pattern's body (without a leading `(?i)`) and the flags it asks for besides `u`. */
export function policyRegexParts(source: string): { body: string; flags: string } {
  return source.startsWith(caseInsensitivePrefix) ? { body: source.slice(caseInsensitivePrefix.length), flags: 'i' } : { body: source, flags: '' };
}

/** Compiles a policy pattern with `u` and `extraFlags` (e.g. `g`); throws SyntaxError when it is invalid. */
export function policyRegex(source: string, extraFlags = ''): RegExp {
  const { body, flags } = policyRegexParts(source);
  return new RegExp(body, `${flags}u${extraFlags}`);
}
