/**
 * The allow-list of a SessionPolicy (`spec.commands.mode: AllowList`): the boundary for what may run
 * in a container, where deny patterns are only guardrails (`rm -r -f` and `base64 -d | sh` get past
 * any pattern for `rm -rf`). Exec commands are argv already; a line typed on stdin becomes argv the
 * way a POSIX shell would split it — but only when that split is certain: a line using anything that
 * makes the shell compute the command (`;|&<>()$\`` outside single quotes, globs `*?[`, `~`, `#` or
 * `^` at a word's start, `{`, `!`, a variable assignment, a control character, an unclosed quote) is not
 * a simple command, and is refused.
 *
 * An entry is matched exactly, word for word: `*` stands for one argument, and `**` as the last word
 * for any number of further arguments (none included).
 */

export type ArgvPattern = readonly string[];

/** Characters that make a shell compute the command rather than run the words as they stand. */
const unquotedSpecial = new Set([';', '|', '&', '<', '>', '(', ')', '$', '`', '*', '?', '[', ']', '{', '}', '!']);
/** Special only at the start of a word (tilde expansion, comments, bash's `^old^new` history substitution). */
const wordStartSpecial = new Set(['~', '#', '^']);

/**
 * The argv a POSIX shell would run for `line`, or a reason why kubegate cannot be certain of it.
 * Quotes: '…' literal; "…" with `\` escaping `"\$\``, and `$` or `\`` inside refused; `\` outside
 * quotes escapes the next character.
 */
export function splitCommandLine(line: string): { argv: string[] } | { refused: string } {
  const argv: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) argv.push(word);
      word = undefined;
      continue;
    }
    if (c < ' ' || c === '\x7f') return { refused: 'a control character' };
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close === -1) return { refused: 'an unclosed quote' };
      word = (word ?? '') + line.slice(i + 1, close);
      i = close;
      continue;
    }
    if (c === '"') {
      const quoted = doubleQuoted(line, i + 1);
      if ('refused' in quoted) return quoted;
      word = (word ?? '') + quoted.text;
      i = quoted.end;
      continue;
    }
    if (c === '\\') {
      if (i + 1 >= line.length) return { refused: 'a trailing backslash' };
      word = (word ?? '') + line[++i];
      continue;
    }
    if (unquotedSpecial.has(c) || (word === undefined && wordStartSpecial.has(c))) return { refused: `the shell character "${c}"` };
    if (c === '=' && argv.length === 0 && word !== undefined) return { refused: 'a variable assignment' };
    word = (word ?? '') + c;
  }
  if (word !== undefined) argv.push(word);
  return { argv };
}

/** The text of a "…" string starting at `start` and the index of its closing quote. */
function doubleQuoted(line: string, start: number): { text: string; end: number } | { refused: string } {
  let text = '';
  for (let i = start; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') return { text, end: i };
    if (c === '$' || c === '`') return { refused: `the shell character "${c}" inside double quotes` };
    if (c < ' ' || c === '\x7f') return { refused: 'a control character' };
    if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) text += line[++i];
    else text += c;
  }
  return { refused: 'an unclosed quote' };
}

/** Whether `argv` is exactly one of `patterns`. */
export function argvAllowed(argv: readonly string[], patterns: readonly ArgvPattern[]): boolean {
  return patterns.some((pattern) => argvMatches(argv, pattern));
}

function argvMatches(argv: readonly string[], pattern: ArgvPattern): boolean {
  const rest = pattern.at(-1) === '**';
  const fixed = rest ? pattern.length - 1 : pattern.length;
  if (rest ? argv.length < fixed : argv.length !== fixed) return false;
  for (let i = 0; i < fixed; i++) {
    if (pattern[i] !== '*' && pattern[i] !== argv[i]) return false;
  }
  return true;
}

/** Problems of one allow-list entry, for the policy's validation. */
export function argvPatternProblem(pattern: ArgvPattern): string | undefined {
  if (pattern.length === 0) return 'an entry needs at least the command';
  if (pattern[0] === '*' || pattern[0] === '**') return 'the command itself cannot be a wildcard';
  if (pattern.slice(0, -1).includes('**')) return '"**" may only be the last word';
  return undefined;
}
