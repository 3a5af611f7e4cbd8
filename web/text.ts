/**
 * The pages' text work, apart from the DOM (unit-tested in test/unit/console-web-text.test.ts): what the live
 * tail shows of terminal output, what a request touched, where a searched text occurs in a line, how many
 * rows a terminal player needs.
 */

/** Terminal output as plain text: escape sequences (CSI, OSC) and carriage returns dropped. */
export function plainTerminalText(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r/g, '');
}

/** `pods/exec payments/web-7d9c`: what a request touched, from its attributes; its path when it names no resource. */
export function requestTarget(request: { path: string; resource?: string; namespace?: string; name?: string }): string {
  if (!request.resource) return request.path;
  const where = [request.namespace, request.name].filter(Boolean).join('/');
  const subresource = /\/(exec|attach|portforward|log|status|scale)(\?|$)/.exec(request.path)?.[1];
  return `${request.resource}${subresource ? `/${subresource}` : ''}${where ? ` ${where}` : ''}`;
}

/** The line cut where `needle` occurs (any case): the pieces in order, the matching ones flagged. */
export function matchParts(line: string, needle: string): { text: string; match: boolean }[] {
  if (needle === '') return [{ text: line, match: false }];
  const pattern = new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu');
  const parts: { text: string; match: boolean }[] = [];
  let at = 0;
  for (const found of line.matchAll(pattern)) {
    if (found.index > at) parts.push({ text: line.slice(at, found.index), match: false });
    parts.push({ text: found[0], match: true });
    at = found.index + found[0].length;
  }
  if (at < line.length) parts.push({ text: line.slice(at), match: false });
  return parts;
}

/**
 * The rows the player shows: as many as the stream printed lines (a few at least), at most the recorded
 * terminal's height — a one-line output in a 24-row screen is mostly an empty black box.
 */
export function castRows(cast: string): number {
  const [header = '{}', ...events] = cast.split('\n');
  const height = Number((JSON.parse(header) as { height?: number }).height) || 24;
  let lines = 0;
  for (const line of events) {
    if (!line) continue;
    const [, type, data] = JSON.parse(line) as [number, string, string];
    if (type === 'o') lines += data.split('\n').length - 1;
  }
  return Math.max(4, Math.min(height, lines + 2));
}
