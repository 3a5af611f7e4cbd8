/**
 * The lines a shell in the container would run, rebuilt from the bytes of one stdin stream. Who reads
 * stdin in the container decides what a byte means, and the gateway cannot see who that is, so each
 * possible reader is followed side by side and every line any of them would run is judged (the union
 * of what could have been typed):
 *
 *  - `pipe`: stdin is a pipe (exec or attach without a TTY). LF ends a line; CR is an ordinary byte.
 *  - `canonical`: a TTY in the kernel's canonical mode (sh, dash, anything without line editing), with
 *    Linux's default termios: CR and LF end a line (ICRNL), DEL erases a character, ^U the line, ^W a
 *    word, ^C ^\ ^Z flush it, ^V quotes the next key, ^D hands what is typed to the reader as it
 *    stands (no erasing it afterwards) and, on an empty line, is end of file. Everything else,
 *    escape sequences and tabs included, is a character of the line.
 *  - `readline`: a TTY in raw mode under a line editor (bash, and busybox ash with line editing),
 *    emacs keys: DEL and ^H erase, ^U ^W ^K kill, ^A ^E ^B ^F and the arrow, Home, End and Delete
 *    keys move and delete. Keys whose effect depends on state kubegate does not have — history (up,
 *    down, ^R, ^P, ^N), completion (tab), yank, Meta keys, unknown sequences — make the line
 *    `uncertain`: its known characters are still judged, and the policy says whether an uncertain line
 *    may run at all.
 *
 * For every reader a line ending in an unescaped backslash continues on the next (the shell joins
 * them), and a line longer than `maxLineChars` keeps only its last characters and is uncertain.
 * Erasing a non-ASCII character is uncertain too: whether one key erases a character or a byte
 * depends on the container's locale.
 */
import { StringDecoder } from 'node:string_decoder';

export type LineDiscipline = 'pipe' | 'canonical' | 'readline';

/** A line one reader would run; `uncertain` says why its text may not be what runs. */
export interface StdinLine {
  text: string;
  uncertain?: string;
}

/** What one key did: ended the line (Enter, end of file), dropped it (^C), or only edited it. */
type KeyEffect = 'end' | 'abort' | undefined;

/** One reader's editing of the current line. */
interface LineEditor {
  key(c: string): KeyEffect;
  /** Types a run of printable characters at once, when no key before it changes their meaning (^V, ESC). */
  type(run: string): boolean;
  text(): string;
  uncertain(): string | undefined;
  clear(): void;
  /** Characters on the line, and dropping all but the last `n` of them (a bound on memory). */
  length(): number;
  keepLast(n: number): void;
}

const isWhitespace = (c: string | undefined) => c === ' ' || c === '\t';

/** The line as characters and a cursor, with the edits both TTY readers share. */
class EditedLine {
  chars: string[] = [];
  cursor = 0;
  uncertain: string | undefined;

  insert(c: string): void {
    this.chars.splice(this.cursor++, 0, c);
  }

  /** The whole run at once: a splice a character would cost the line's length per character. */
  insertText(text: string): void {
    const chars = [...text];
    this.chars = this.cursor === this.chars.length ? this.chars.concat(chars) : this.chars.slice(0, this.cursor).concat(chars, this.chars.slice(this.cursor));
    this.cursor += chars.length;
  }

  /** Erases `count` characters before the cursor. */
  eraseBefore(count = 1): void {
    const from = Math.max(0, this.cursor - count);
    this.erase(from, this.cursor);
    this.cursor = from;
  }

  /** Erases the character under the cursor (Delete, ^D). */
  eraseAt(): void {
    this.erase(this.cursor, Math.min(this.cursor + 1, this.chars.length));
  }

  private erase(from: number, to: number): void {
    if (this.chars.slice(from, to).some((c) => c > '\x7f')) this.uncertain ??= 'a non-ASCII character erased';
    this.chars.splice(from, to - from);
  }

  eraseWord(): void {
    let from = this.cursor;
    while (from > 0 && isWhitespace(this.chars[from - 1])) from--;
    while (from > 0 && !isWhitespace(this.chars[from - 1])) from--;
    this.eraseBefore(this.cursor - from);
  }

  clear(): void {
    this.chars = [];
    this.cursor = 0;
    this.uncertain = undefined;
  }

  keepLast(n: number): void {
    const dropped = Math.max(0, this.chars.length - n);
    this.chars.splice(0, dropped);
    this.cursor = Math.max(0, this.cursor - dropped);
  }
}

class PipeEditor implements LineEditor {
  private line = '';

  key(c: string): KeyEffect {
    if (c === '\n') return 'end';
    this.line += c;
    return undefined;
  }

  type(run: string): boolean {
    this.line += run;
    return true;
  }

  text(): string {
    return this.line;
  }

  uncertain(): undefined {
    return undefined;
  }

  clear(): void {
    this.line = '';
  }

  length(): number {
    return this.line.length;
  }

  keepLast(n: number): void {
    this.line = this.line.slice(-n);
  }
}

class CanonicalEditor implements LineEditor {
  private readonly line = new EditedLine();
  /** Handed to the reader by ^D: no longer erasable. */
  private committed = '';
  private quoteNext = false;

  key(c: string): KeyEffect {
    if (this.quoteNext) {
      this.quoteNext = false;
      this.line.insert(c);
      return undefined;
    }
    switch (c) {
      case '\r':
      case '\n':
        return 'end';
      case '\x7f':
        this.line.eraseBefore();
        break;
      case '\x15':
        this.line.eraseBefore(this.line.cursor);
        break;
      case '\x17':
        this.line.eraseWord();
        break;
      case '\x03':
      case '\x1c':
      case '\x1a':
        this.line.clear();
        return 'abort';
      case '\x04':
        if (this.line.chars.length === 0) return 'end';
        this.committed += this.line.chars.join('');
        this.line.clear();
        break;
      case '\x16':
        this.quoteNext = true;
        break;
      default:
        this.line.insert(c);
    }
    return undefined;
  }

  type(run: string): boolean {
    if (this.quoteNext) return false;
    this.line.insertText(run);
    return true;
  }

  text(): string {
    return this.committed + this.line.chars.join('');
  }

  uncertain(): string | undefined {
    return this.line.uncertain;
  }

  clear(): void {
    this.line.clear();
    this.committed = '';
    this.quoteNext = false;
  }

  length(): number {
    return this.committed.length + this.line.chars.length;
  }

  keepLast(n: number): void {
    this.committed = this.committed.slice(-n);
    this.line.keepLast(n);
  }
}

/** Escape sequences readline's default bindings give a certain meaning. */
const readlineSequences = new Map<string, (line: EditedLine) => void>([
  ...['[D', 'OD'].map((s) => [s, (l: EditedLine) => void (l.cursor = Math.max(0, l.cursor - 1))] as const),
  ...['[C', 'OC'].map((s) => [s, (l: EditedLine) => void (l.cursor = Math.min(l.chars.length, l.cursor + 1))] as const),
  ...['[H', 'OH', '[1~', '[7~'].map((s) => [s, (l: EditedLine) => void (l.cursor = 0)] as const),
  ...['[F', 'OF', '[4~', '[8~'].map((s) => [s, (l: EditedLine) => void (l.cursor = l.chars.length)] as const),
  ['[3~', (l: EditedLine) => l.eraseAt()],
  // bracketed paste: the pasted text is typed as it stands
  ...['[200~', '[201~'].map((s) => [s, () => undefined] as const),
]);

/** Control keys readline acts on without state kubegate lacks; every other control key is uncertain. */
const readlineKeys = new Map<string, (line: EditedLine) => KeyEffect>([
  ['\x7f', (l) => void l.eraseBefore()],
  ['\x08', (l) => void l.eraseBefore()],
  ['\x15', (l) => void l.eraseBefore(l.cursor)],
  ['\x17', (l) => void l.eraseWord()],
  ['\x0b', (l) => void l.chars.splice(l.cursor)],
  ['\x01', (l) => void (l.cursor = 0)],
  ['\x05', (l) => void (l.cursor = l.chars.length)],
  ['\x02', (l) => void (l.cursor = Math.max(0, l.cursor - 1))],
  ['\x06', (l) => void (l.cursor = Math.min(l.chars.length, l.cursor + 1))],
  ['\x04', (l) => (l.chars.length === 0 ? 'end' : void l.eraseAt())],
  ['\x03', (l) => (l.clear(), 'abort')],
  ['\x0c', () => undefined], // clear screen
  ['\r', () => 'end'],
  ['\n', () => 'end'],
]);

class ReadlineEditor implements LineEditor {
  private readonly line = new EditedLine();
  /** An escape sequence still being read. */
  private escape: string | undefined;
  private quoteNext = false;

  key(c: string): KeyEffect {
    if (this.escape !== undefined) return this.escapeKey(c);
    if (this.quoteNext || (c >= ' ' && c !== '\x7f')) {
      this.quoteNext = false;
      this.line.insert(c);
      return undefined;
    }
    if (c === '\x1b') this.escape = '';
    else if (c === '\x16') this.quoteNext = true;
    else {
      const action = readlineKeys.get(c);
      if (action) return action(this.line);
      this.line.uncertain ??= `the key ${controlName(c)}`;
    }
    return undefined;
  }

  type(run: string): boolean {
    if (this.quoteNext || this.escape !== undefined) return false;
    this.line.insertText(run);
    return true;
  }

  text(): string {
    return this.line.chars.join('');
  }

  uncertain(): string | undefined {
    return this.line.uncertain ?? (this.escape !== undefined ? 'an unfinished escape sequence' : undefined);
  }

  clear(): void {
    this.line.clear();
    this.escape = undefined;
    this.quoteNext = false;
  }

  length(): number {
    return this.line.chars.length;
  }

  keepLast(n: number): void {
    this.line.keepLast(n);
  }

  /** ESC X, ESC O X, or ESC [ parameters final-byte (0x40–0x7e). */
  private escapeKey(c: string): KeyEffect {
    const sequence = this.escape + c;
    const complete = sequence.length === 1 ? c !== '[' && c !== 'O' : sequence[0] === 'O' || (c >= '@' && c <= '~');
    if (!complete) {
      this.escape = sequence;
      return undefined;
    }
    this.escape = undefined;
    const action = readlineSequences.get(sequence);
    if (action) action(this.line);
    else this.line.uncertain ??= `the key ESC ${JSON.stringify(sequence).slice(1, -1)}`;
    return undefined;
  }
}

function trailingBackslashes(text: string): number {
  let count = 0;
  while (count < text.length && text[text.length - 1 - count] === '\\') count++;
  return count;
}

function controlName(c: string): string {
  return c === '\t' ? 'tab' : `^${String.fromCharCode(c.charCodeAt(0) + 0x40)}`;
}

const editors: Record<LineDiscipline, () => LineEditor> = {
  pipe: () => new PipeEditor(),
  canonical: () => new CanonicalEditor(),
  readline: () => new ReadlineEditor(),
};

/** One reader: its editor, plus the lines a trailing backslash continued. */
class ShellInput {
  private readonly editor: LineEditor;
  private continued = '';
  private continuedUncertain: string | undefined;
  /** Characters were dropped from the front of this line to bound memory. */
  private overflowed = false;

  constructor(
    discipline: LineDiscipline,
    private readonly maxLineChars: number,
  ) {
    this.editor = editors[discipline]();
  }

  /** The lines a run of printable characters or one control character ended. */
  keys(token: string, ended: StdinLine[]): void {
    if (token.length > 1 && this.editor.type(token)) this.bound();
    else {
      for (const c of token) {
        const line = this.key(c);
        if (line) ended.push(line);
      }
    }
  }

  /** The line `c` ended, if it ended one. */
  private key(c: string): StdinLine | undefined {
    const effect = this.editor.key(c);
    if (effect === 'abort') this.reset();
    this.bound();
    if (effect !== 'end') return undefined;
    const physical = this.editor.text();
    if (trailingBackslashes(physical) % 2 === 1) {
      this.continued = (this.continued + physical.slice(0, -1)).slice(-2 * this.maxLineChars);
      this.continuedUncertain ??= this.editor.uncertain();
      this.editor.clear();
      return undefined;
    }
    const line = this.current();
    this.reset();
    return line;
  }

  /** The line as it would run if stdin ended now. */
  current(): StdinLine {
    // shells (bash, dash) drop NUL bytes from what they read: `r\0m -rf` runs as `rm -rf`, and is judged so
    const text = (this.continued + this.editor.text()).replaceAll('\0', '');
    const tooLong = this.overflowed || text.length > this.maxLineChars;
    const uncertain = this.continuedUncertain ?? this.editor.uncertain() ?? (tooLong ? `a line longer than ${this.maxLineChars} characters` : undefined);
    return { text: text.length > this.maxLineChars ? text.slice(-this.maxLineChars) : text, ...(uncertain ? { uncertain } : {}) };
  }

  /** Keeps the line's memory bounded. */
  private bound(): void {
    if (this.editor.length() <= 2 * this.maxLineChars) return;
    this.editor.keepLast(this.maxLineChars);
    this.overflowed = true;
  }

  reset(): void {
    this.editor.clear();
    this.continued = '';
    this.continuedUncertain = undefined;
    this.overflowed = false;
  }
}

/** Every reader's lines of one stdin stream. */
export class StdinLines {
  private readonly decoder = new StringDecoder('utf8');
  private readonly inputs: ShellInput[];

  constructor(disciplines: readonly LineDiscipline[], maxLineChars = 8192) {
    this.inputs = disciplines.map((discipline) => new ShellInput(discipline, maxLineChars));
  }

  /** The lines these bytes ended, of every reader. */
  push(bytes: Buffer): StdinLine[] {
    return this.keys(this.decoder.write(bytes));
  }

  /** Each reader's current line, as it would run if stdin ended now; blank ones left out. */
  pending(): StdinLine[] {
    return this.inputs.map((input) => input.current()).filter((line) => line.text.trim() !== '' || line.uncertain);
  }

  /** stdin closed: the lines it ended (a shell runs a last line without newline at end of file). */
  close(): StdinLine[] {
    const ended = [...this.keys(this.decoder.end()), ...this.pending()];
    this.inputs.forEach((input) => input.reset());
    return ended;
  }

  /** Runs of printable characters go to each reader at once; control characters one by one. */
  private keys(text: string): StdinLine[] {
    const ended: StdinLine[] = [];
    for (const [token] of text.matchAll(/[\x00-\x1f\x7f]|[^\x00-\x1f\x7f]+/g)) {
      for (const input of this.inputs) input.keys(token, ended);
    }
    return ended;
  }
}
