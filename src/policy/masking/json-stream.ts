/**
 * Masks a JSON body as it streams — a single object, a 50 MB LIST, a Table, or a watch stream of
 * concatenated `{type, object}` events — without holding the body. A small tokenizer tracks where it is
 * (the path of keys and indexes from the top-level value) and passes every byte through unchanged,
 * except string values: one that must be masked whole (paths.ts) is dropped as it arrives and
 * replaced; one that patterns apply to is held until its closing quote, decoded, masked and re-encoded
 * (or passed as it was when nothing matched). Numbers, keys and layout are never re-serialised, so
 * int64 values and the API server's formatting survive exactly, and the output is valid JSON whenever
 * the input is.
 *
 * Memory is bounded by the longest single string value (capped by `maxStringBytes`; Kubernetes objects
 * are themselves bounded, by etcd, to about 1.5 MiB) plus the nesting depth (capped by `maxDepth`) —
 * never by the body. Input
 * that is not well-nested JSON, or a body that ends inside a value, throws MaskingError: the caller
 * must then cut the response, never forward the rest unmasked.
 */
import { columnNameIndex, MaskingError, masksWholeValues, wholeValueMask, type MaskRules, type PathSegment } from './paths.js';
import type { PatternSet, StreamMasker } from './patterns.js';

interface Frame {
  array: boolean;
  /** Objects: the next string is a key. */
  expectKey: boolean;
  index: number;
}

/** What happens to the string being read: bytes pass, are dropped for a replacement, or are held. */
type StringMode = 'pass' | 'drop' | 'hold';

/** The API server's own JSON decoder refuses deeper nesting, so no real object comes near it. */
export const maxDepth = 10_000;
const quote = 0x22;
const backslash = 0x5c;

export class JsonStreamMasker implements StreamMasker {
  private readonly frames: Frame[] = [];
  private readonly path: PathSegment[] = [];
  /** Column names of the Table in the current top-level value (Secret tables mask other columns). */
  private columns: string[] = [];
  private inString = false;
  private escaped = false;
  private stringIsKey = false;
  private mode: StringMode = 'pass';
  private replacement = '';
  private captureColumn: number | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly rules: MaskRules,
    private readonly patterns: PatternSet,
    private readonly maxStringBytes: number,
  ) {}

  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let emitFrom = 0; // start of the pass-through bytes not yet emitted
    let holdFrom = 0; // start of the held string's bytes in this chunk
    let nextBackslash = -2;
    let i = 0;
    while (i < chunk.length) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(backslash, i);
        const end = chunk.indexOf(quote, i);
        if (nextBackslash !== -1 && (end === -1 || nextBackslash < end)) {
          i = nextBackslash + 1;
          this.escaped = true;
          continue;
        }
        if (end === -1) break;
        i = end + 1;
        this.inString = false;
        if (this.mode === 'hold') {
          this.hold(chunk.subarray(holdFrom, i));
          out.push(this.finishHeld());
          emitFrom = i;
        } else if (this.mode === 'drop') {
          out.push(Buffer.from(JSON.stringify(this.replacement)));
          emitFrom = i;
        }
        continue;
      }
      const c = chunk[i]!;
      if (c === quote) {
        this.startString();
        if (this.mode !== 'pass') {
          out.push(chunk.subarray(emitFrom, i));
          holdFrom = i;
        }
      } else if (c === 0x7b || c === 0x5b) this.open(c === 0x5b);
      else if (c === 0x7d || c === 0x5d) this.close(c === 0x5d);
      else if (c === 0x2c) this.comma();
      else if (c === 0x3a && (this.frames.length === 0 || this.frames[this.frames.length - 1]!.array)) throw new MaskingError('":" outside an object');
      i++;
    }
    if (!this.inString || this.mode === 'pass') out.push(chunk.subarray(emitFrom));
    else if (this.mode === 'hold') this.hold(chunk.subarray(holdFrom));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  flush(): Buffer {
    if (this.inString || this.frames.length > 0) throw new MaskingError('the JSON body ended inside a value');
    return Buffer.alloc(0);
  }

  private open(array: boolean): void {
    if (this.frames.length === 0) this.columns = []; // a new top-level value: the next watch event
    if (this.frames.length >= maxDepth) throw new MaskingError(`the JSON body nests deeper than ${maxDepth}`);
    this.frames.push({ array, expectKey: !array, index: 0 });
    this.path.push(array ? 0 : '');
  }

  private close(array: boolean): void {
    const frame = this.frames.pop();
    if (!frame || frame.array !== array) throw new MaskingError(`unbalanced "${array ? ']' : '}'}"`);
    this.path.pop();
  }

  private comma(): void {
    const frame = this.frames[this.frames.length - 1];
    if (!frame) throw new MaskingError('"," outside an object or array');
    if (frame.array) this.path[this.path.length - 1] = ++frame.index;
    else frame.expectKey = true;
  }

  private startString(): void {
    this.inString = true;
    const frame = this.frames[this.frames.length - 1];
    this.stringIsKey = !!frame && !frame.array && frame.expectKey;
    this.captureColumn = undefined;
    if (this.stringIsKey) {
      frame!.expectKey = false;
      this.mode = 'hold';
      return;
    }
    const replacement = masksWholeValues(this.rules) ? wholeValueMask(this.rules, this.path, this.columns) : undefined;
    if (replacement !== undefined) {
      this.mode = 'drop';
      this.replacement = replacement;
      return;
    }
    this.captureColumn = this.rules.secrets ? columnNameIndex(this.path) : undefined;
    this.mode = this.captureColumn !== undefined || !this.patterns.empty ? 'hold' : 'pass';
  }

  private hold(bytes: Buffer): void {
    this.heldBytes += bytes.length;
    if (this.heldBytes > this.maxStringBytes) throw new MaskingError(`a string value is longer than ${this.maxStringBytes} bytes`);
    this.held.push(bytes);
  }

  /** The held string token (quotes included), decoded: a key goes into the path, a value is masked. */
  private finishHeld(): Buffer {
    const raw = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    let value: string;
    try {
      value = JSON.parse(raw.toString('utf8')) as string;
    } catch {
      throw new MaskingError('a string is not valid JSON');
    }
    if (this.stringIsKey) {
      this.path[this.path.length - 1] = value;
      return raw;
    }
    if (this.captureColumn !== undefined) this.columns[this.captureColumn] = value;
    const masked = this.patterns.maskString(value);
    return masked === value ? raw : Buffer.from(JSON.stringify(masked));
  }
}
