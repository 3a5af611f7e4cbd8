/**
 * The stdin line rebuilder (src/gateway/stdin-lines.ts): what each possible reader in the container —
 * a pipe, a TTY in canonical mode, a TTY under readline — would run, from bytes however they are cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StdinLines, type LineDiscipline, type StdinLine } from '../../src/gateway/stdin-lines.js';

const tty: LineDiscipline[] = ['canonical', 'readline'];
const DEL = '\x7f';
const LEFT = '\x1b[D';
const UP = '\x1b[A';

/** The lines ended by `chunks`, pushed one by one, and then each reader's current line. */
function feed(disciplines: LineDiscipline[], ...chunks: string[]): { ended: StdinLine[]; pending: StdinLine[]; lines: StdinLines } {
  const lines = new StdinLines(disciplines, 64);
  const ended = chunks.flatMap((chunk) => lines.push(Buffer.from(chunk, 'utf8')));
  return { ended, pending: lines.pending(), lines };
}

const texts = (lines: StdinLine[]) => lines.map((line) => line.text);

test('pipe: LF ends a line; CR is part of it; a line split over many writes is one line', () => {
  assert.deepEqual(texts(feed(['pipe'], 'ls\n', 'rm', ' -r', 'f /', '\n').ended), ['ls', 'rm -rf /']);
  assert.deepEqual(texts(feed(['pipe'], 'echo a\rrm -rf /\n').ended), ['echo a\rrm -rf /']);
  assert.deepEqual(texts(feed(['pipe'], 'r', 'm -rf /').pending), ['rm -rf /'], 'a line without newline is pending, as it would run now');
});

test('pipe: a last line without newline is a line at end of file, once', () => {
  const { lines } = feed(['pipe'], 'ls\nrm -rf /');
  assert.deepEqual(texts(lines.close()), ['rm -rf /']);
  assert.deepEqual(lines.pending(), [], 'and no longer pending after the close');
});

test('backslash-newline continues the line, for every reader; an escaped backslash does not', () => {
  assert.deepEqual(texts(feed(['pipe'], 'rm -r\\\n', 'f /\n').ended), ['rm -rf /']);
  assert.deepEqual(texts(feed(tty, 'rm -r\\\r', 'f /\r').ended), ['rm -rf /', 'rm -rf /']);
  assert.deepEqual(texts(feed(['pipe'], 'echo \\\\\n', 'rm -rf /\n').ended), ['echo \\\\', 'rm -rf /']);
  assert.deepEqual(texts(feed(['pipe'], 'rm -r\\\n', 'f /').pending), ['rm -rf /'], 'a continued line is pending as a whole');
});

test('TTY: DEL, ^H, ^U and ^W edit the line before it is judged; CR ends it', () => {
  assert.deepEqual(texts(feed(tty, 'rm -rf /tmpx', DEL, DEL, DEL, DEL, '\r').ended), ['rm -rf /', 'rm -rf /']);
  assert.deepEqual(texts(feed(tty, 'echo hi\x15rm -rf /\r').ended), ['rm -rf /', 'rm -rf /']);
  assert.deepEqual(texts(feed(tty, 'rm -rf /etc/oops\x17/\r').ended), ['rm -rf /', 'rm -rf /']);
  assert.deepEqual(texts(feed(tty, 'rm -rf /x\x08\r').ended), ['rm -rf /x\x08', 'rm -rf /'], '^H erases under readline only');
  assert.deepEqual(texts(feed(tty, 'rm -rf /\x03ls\r').ended), ['ls', 'ls'], '^C drops the line');
});

test('TTY: cursor keys are followed under readline and are characters in canonical mode', () => {
  const { ended } = feed(tty, 'rm -f /', LEFT, LEFT, LEFT, 'r', '\r');
  assert.deepEqual(texts(ended), [`rm -f /${LEFT}${LEFT}${LEFT}r`, 'rm -rf /']);
  assert.ok(ended.every((line) => !line.uncertain));
  const split = feed(tty, 'rm -f /\x1b', '[', 'D', LEFT, '\x1b[Dr\r');
  assert.equal(split.ended[1]!.text, 'rm -rf /', 'an escape sequence cut between writes');
  assert.deepEqual(texts(feed(tty, 'x rm -rf /', '\x01', '\x1b[3~', '\x1b[3~\r').ended)[1], 'rm -rf /', 'Home and Delete');
});

test('TTY: history, completion and unknown keys make the line uncertain, its known characters still there', () => {
  const history = feed(tty, UP, '\r').ended;
  assert.match(history[1]!.uncertain ?? '', /ESC \[A/);
  const completed = feed(tty, 'rm -rf /tm\t\r').ended;
  assert.deepEqual(completed[1], { text: 'rm -rf /tm', uncertain: 'the key tab' });
  assert.equal(completed[0]!.uncertain, undefined, 'a tab is a character in canonical mode');
  assert.equal(feed(tty, 'ls\x1b[').pending.at(-1)!.uncertain, 'an unfinished escape sequence');
  assert.equal(feed(tty, 'é', DEL, '\r').ended[1]!.uncertain, 'a non-ASCII character erased');
  assert.equal(feed(tty, 'é', LEFT, '\x1b[3~\r').ended[1]!.uncertain, 'a non-ASCII character erased', 'by Delete too');
  assert.equal(feed(tty, UP, '\r', 'ls\r').ended[3]!.uncertain, undefined, 'the next line starts certain');
});

test('canonical ^D hands the line to the reader: no erasing it afterwards; ^D on an empty line ends it', () => {
  const { ended } = feed(['canonical'], 'rm -rf /', '\x04', DEL, DEL, DEL, '\x04');
  assert.deepEqual(texts(ended), ['rm -rf /']);
  assert.deepEqual(texts(feed(['readline'], 'ls\x04').pending), ['ls'], 'under readline ^D deletes forward');
});

test('^V quotes the next key: a quoted DEL or CR is a character', () => {
  assert.deepEqual(texts(feed(tty, 'ab\x16\x7f\r').ended), ['ab\x7f', 'ab\x7f']);
});

test('a line longer than the bound is uncertain and keeps its last characters', () => {
  const { pending } = feed(['pipe'], 'x'.repeat(500), 'rm -rf /');
  assert.equal(pending[0]!.text.length, 64);
  assert.ok(pending[0]!.text.endsWith('rm -rf /'));
  assert.match(pending[0]!.uncertain ?? '', /longer than 64/);
});

test('UTF-8 cut between writes is one character', () => {
  const lines = new StdinLines(['pipe']);
  const e = Buffer.from('é\n');
  assert.deepEqual(texts([...lines.push(e.subarray(0, 1)), ...lines.push(e.subarray(1))]), ['é']);
});

test('invariant 10: NUL bytes, which shells drop from what they read, are dropped from the line judged', () => {
  for (const discipline of ['pipe', 'canonical', 'readline'] as const) {
    assert.deepEqual(texts(feed([discipline], 'r\0m -r\0f /data\n').ended), ['rm -rf /data'], discipline);
  }
});

test('a long run typed in the middle of a line is inserted whole, in order', () => {
  const { pending } = feed(['readline'], 'ab', '\x01', 'x'.repeat(100_000));
  assert.equal(pending[0]!.text.slice(-3), 'xab', 'the run went in before the cursor, and the line keeps its last characters');
  assert.ok(pending[0]!.uncertain, 'a line longer than the bound is uncertain');
});
