/**
 * The policy's masking patterns, compiled once: each regular expression with the longest stretch of text
 * one match can examine, computed from the pattern itself. That bound is what lets a stream be masked
 * without buffering it: a masker holds back `maxMatchLength - 1` characters, and any match that starts
 * in what it releases is provably complete. A pattern without such a bound (`\S+`, `.*`, `{3,}`) cannot be
 * masked in a stream — its match could straddle any amount of output — so it is refused when the policy
 * loads, with a message that suggests a bounded form (`\S{1,256}`); backreferences are refused too.
 *
 * Lookarounds, `$` and `\b` are counted as if they consumed what they look at, and the stream keeps that
 * much already-released text in front of what it scans, so they see the same neighbours they would in
 * the whole text. `^` only matches at the very start of a stream (or of one JSON string value).
 *
 * A leading `(?i)` (RE2's case-insensitive flag, see ../regex.ts) is not part of what is measured.
 */
import { policyRegex, policyRegexParts } from '../regex.js';

export class MaskingPatternError extends Error {
  override readonly name = 'MaskingPatternError';
}

/** Longest match (in UTF-16 code units) a masking pattern may have: the stream masker holds back this much. */
export const maxPatternReach = 4096;

interface Cursor {
  source: string;
  at: number;
}

function fail(cursor: Cursor, problem: string): never {
  throw new MaskingPatternError(`masking pattern /${cursor.source}/: ${problem} (at offset ${cursor.at})`);
}

/** Code units of one character class: 2 when it can match an astral code point, else 1. */
function classReach(cursor: Cursor): number {
  const { source } = cursor;
  let reach = source[cursor.at] === '^' ? 2 : 1; // a negated class matches astral characters
  while (cursor.at < source.length && source[cursor.at] !== ']') {
    const c = source.codePointAt(cursor.at)!;
    if (c > 0xffff) reach = 2;
    if (source[cursor.at] === '\\') {
      const next = source[cursor.at + 1] ?? '';
      if ('DWSpP'.includes(next)) reach = 2;
      if (next === 'u' && source[cursor.at + 2] === '{') {
        const close = source.indexOf('}', cursor.at);
        if (parseInt(source.slice(cursor.at + 3, close), 16) > 0xffff) reach = 2;
        cursor.at = close;
      } else if ((next === 'p' || next === 'P') && source[cursor.at + 2] === '{') cursor.at = source.indexOf('}', cursor.at);
      else cursor.at++;
    }
    cursor.at += c > 0xffff ? 2 : 1;
  }
  if (source[cursor.at] !== ']') fail(cursor, 'unterminated character class');
  cursor.at++;
  return reach;
}

/** Code units one escape sequence matches (after the backslash). */
function escapeReach(cursor: Cursor): number {
  const { source } = cursor;
  const c = source[cursor.at] ?? '';
  cursor.at++;
  if (/[1-9]/.test(c) || c === 'k') fail(cursor, 'backreferences cannot be masked in a stream');
  if ('DWS'.includes(c)) return 2;
  if (c === 'p' || c === 'P') {
    cursor.at = source.indexOf('}', cursor.at) + 1;
    return 2;
  }
  if (c === 'u' && source[cursor.at] === '{') {
    const close = source.indexOf('}', cursor.at);
    const point = parseInt(source.slice(cursor.at + 1, close), 16);
    cursor.at = close + 1;
    return point > 0xffff ? 2 : 1;
  }
  if (c === 'u') cursor.at += 4;
  else if (c === 'x') cursor.at += 2;
  else if (c === 'c') cursor.at += 1;
  return 1; // \d \w \s \t \n … identity escapes; \b \B look at one character
}

/** Parses a quantifier at the cursor, if any: its maximum repetition (Infinity when unbounded). */
function quantifier(cursor: Cursor): number | undefined {
  const { source } = cursor;
  const c = source[cursor.at];
  let max: number | undefined;
  if (c === '*' || c === '+') {
    max = Infinity;
    cursor.at++;
  } else if (c === '?') {
    max = 1;
    cursor.at++;
  } else if (c === '{') {
    const braces = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(cursor.at));
    if (!braces) return undefined;
    max = braces[2] === undefined ? Number(braces[1]) : braces[3] === '' ? Infinity : Number(braces[3]);
    cursor.at += braces[0].length;
  }
  if (max !== undefined && source[cursor.at] === '?') cursor.at++; // lazy
  return max;
}

/** The reach of a disjunction up to `)` or the end: the longest alternative. */
function disjunctionReach(cursor: Cursor, depth: number): number {
  if (depth > 100) fail(cursor, 'nested too deep');
  const { source } = cursor;
  let best = 0;
  let current = 0;
  while (cursor.at < source.length && source[cursor.at] !== ')') {
    const c = source[cursor.at]!;
    let atom: number;
    if (c === '|') {
      best = Math.max(best, current);
      current = 0;
      cursor.at++;
      continue;
    } else if (c === '^') {
      cursor.at++;
      continue;
    } else if (c === '$') {
      cursor.at++;
      current += 1; // looks at the next character
      continue;
    } else if (c === '(') {
      const opener = /^\((\?(:|=|!|<=|<!|<[A-Za-z_$][\w$]*>))?/.exec(source.slice(cursor.at))!;
      cursor.at += opener[0].length;
      atom = disjunctionReach(cursor, depth + 1);
      if (source[cursor.at] !== ')') fail(cursor, 'unterminated group');
      cursor.at++;
    } else if (c === '[') {
      cursor.at++;
      atom = classReach(cursor);
    } else if (c === '\\') {
      cursor.at++;
      atom = escapeReach(cursor);
    } else if (c === '.') {
      cursor.at++;
      atom = 2;
    } else {
      const point = source.codePointAt(cursor.at)!;
      atom = point > 0xffff ? 2 : 1;
      cursor.at += atom;
    }
    const times = quantifier(cursor) ?? 1;
    if (times === Infinity && atom > 0) fail(cursor, 'unbounded repetition (*, +, {n,}) cannot be masked in a stream: give it a maximum, e.g. {1,256}');
    current += atom * (times === Infinity ? 0 : times);
    if (current > maxPatternReach) fail(cursor, `a match could be longer than ${maxPatternReach} characters`);
  }
  return Math.max(best, current);
}

/**
 * The most UTF-16 code units a match of `source` examines from where it starts (the match itself plus
 * any lookaround), at least 1. Throws MaskingPatternError for patterns that cannot be bounded.
 */
export function maxMatchLength(source: string): number {
  try {
    policyRegex(source);
  } catch (error) {
    throw new MaskingPatternError(`masking pattern /${source}/: ${(error as Error).message}`);
  }
  const cursor: Cursor = { source: policyRegexParts(source).body, at: 0 };
  const reach = disjunctionReach(cursor, 0);
  if (cursor.at < cursor.source.length) fail(cursor, 'unbalanced ")"');
  return Math.max(1, reach);
}

type Interval = [start: number, end: number];

/** Replaces every code unit inside the (unsorted, possibly overlapping) intervals with `*`. */
function applyMask(text: string, intervals: Interval[], from: number, to: number): string {
  if (intervals.length === 0) return text.slice(from, to);
  intervals.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = from;
  for (const [start, end] of intervals) {
    const s = Math.max(start, at);
    const e = Math.min(end, to);
    if (e <= s) continue;
    out += text.slice(at, s) + '*'.repeat(e - s);
    at = e;
  }
  return out + text.slice(at, to);
}

/** A bytes-in, bytes-out masker over one stream; what `push` returns is final. */
export interface StreamMasker {
  push(chunk: Buffer): Buffer;
  /**
   * The held-back tail, masked. At the end of the stream, or when output pauses (interactive exec): the
   * stream may go on after it, but a match split across a flush is not found.
   */
  flush(): Buffer;
}

export class PatternSet {
  private constructor(
    private readonly regexes: RegExp[],
    /** The largest reach of any pattern (see maxMatchLength); 0 with no patterns. */
    readonly maxMatchLength: number,
  ) {}

  static compile(sources: readonly string[]): PatternSet {
    const reach = sources.reduce((max, source) => Math.max(max, maxMatchLength(source)), 0);
    return new PatternSet(
      sources.map((source) => policyRegex(source, 'g')),
      reach,
    );
  }

  get empty(): boolean {
    return this.regexes.length === 0;
  }

  /** Masks every match in one complete string (a JSON value, a whole text); same length out. */
  maskString(text: string): string {
    if (this.regexes.length === 0) return text;
    const intervals: Interval[] = [];
    for (const regex of this.regexes) this.scan(regex, text, 0, text.length, intervals);
    return intervals.length === 0 ? text : applyMask(text, intervals, 0, text.length);
  }

  /** Collects matches of `regex` starting in [from, before); returns where its next scan must resume. */
  private scan(regex: RegExp, text: string, from: number, before: number, into: Interval[]): number {
    regex.lastIndex = from;
    let resume = before;
    for (let match = regex.exec(text); match && match.index < before; match = regex.exec(text)) {
      const end = match.index + match[0].length;
      if (end > match.index) {
        into.push([match.index, end]);
        resume = Math.max(resume, end);
      } else regex.lastIndex++; // an empty match masks nothing
    }
    return resume;
  }

  /**
   * A masker for one byte stream (exec/attach output, logs). Bytes are matched one to one as Latin-1
   * characters, so binary data (`kubectl cp` runs tar over exec) passes through unchanged wherever nothing
   * matches, and a masked byte becomes one `*`; patterns match byte-wise, which is exact for ASCII secrets.
   * It holds back at most `maxMatchLength - 1` bytes, plus as much released text as context.
   */
  createStreamMasker(): StreamMasker {
    const reach = this.maxMatchLength;
    const resume = this.regexes.map(() => 0);
    let window = ''; // [context (released) | pending (held back)]
    let contextLength = 0;
    let maskedUntil = 0; // pending text before this index is inside a match found earlier
    const release = (boundary: number): Buffer => {
      const intervals: Interval[] = maskedUntil > contextLength ? [[contextLength, maskedUntil]] : [];
      this.regexes.forEach((regex, i) => (resume[i] = this.scan(regex, window, resume[i]!, boundary, intervals)));
      const out = Buffer.from(applyMask(window, intervals, contextLength, boundary), 'latin1');
      maskedUntil = intervals.reduce((max, [, end]) => Math.max(max, end), boundary);
      const keepFrom = Math.max(0, boundary - reach);
      window = window.slice(keepFrom);
      contextLength = boundary - keepFrom;
      maskedUntil -= keepFrom;
      resume.forEach((value, i) => (resume[i] = Math.max(value, boundary) - keepFrom));
      return out;
    };
    return {
      push: (chunk) => {
        if (this.regexes.length === 0) return chunk;
        window += chunk.toString('latin1');
        const boundary = window.length - (reach - 1);
        return boundary > contextLength ? release(boundary) : Buffer.alloc(0);
      },
      flush: () => (this.regexes.length === 0 || window.length === contextLength ? Buffer.alloc(0) : release(window.length)),
    };
  }
}
