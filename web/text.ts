/**
 * The pages' text work, apart from the DOM (unit-tested in test/unit/console-web-text.test.ts): what a
 * terminal shows of recorded output, what a request touched, where a searched text occurs in a line.
 */

/**
 * An asciicast v2 with each output line ending in "\r\n": without a TTY no line discipline adds the
 * "\r" (kubectl exec without -t), and the player, a terminal, would draw a staircase.
 */
export function carriageReturns(cast: string): string {
  return cast
    .split('\n')
    .map((line, i) => {
      if (i === 0 || line === '') return line;
      const event = JSON.parse(line) as [number, string, string];
      return event[1] === 'o' ? JSON.stringify([event[0], 'o', event[2].replace(/\r?\n/g, '\r\n')]) : line;
    })
    .join('\n');
}

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
