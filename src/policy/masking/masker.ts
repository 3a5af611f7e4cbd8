/**
 * Masking (security invariant 9: masked values never reach the client or the store in clear text),
 * compiled once when the policy loads from its `masking: {secrets, fields, patterns}`:
 * field paths parsed (paths.ts), patterns compiled with their longest possible match
 * (patterns.ts). A policy whose patterns or fields cannot be masked is refused at load, and the
 * gateway keeps the version it had.
 *
 * Which masker for which body — the gateway decides from the request attributes, never from the body:
 *  - a JSON response of any size (get, list, Table, watch): `createJsonStreamMasker(maskContextFor(attributes))`,
 *    streamed with bounded memory (json-stream.ts);
 *  - exec/attach output, `pods/log` and other text or binary streams: `createStreamMasker()`, which only
 *    applies patterns (there are no fields in a byte stream);
 *  - a body already in memory (a request body for the recording): `maskObject(value, context)`.
 * Protobuf and other encodings cannot be masked: where masking applies, the gateway must ask for JSON.
 */
import { Transform } from 'node:stream';
import type { CompiledPolicy } from '../compile.js';
import { JsonStreamMasker } from './json-stream.js';
import { compileFieldPath, MaskingError, wholeValueMask, type FieldPath, type MaskRules, type PathSegment } from './paths.js';
import { PatternSet, type StreamMasker } from './patterns.js';

export { compileFieldPath, MaskingError, MaskingFieldError, maskedSecretData, maskedValue } from './paths.js';
export { MaskingPatternError, maxMatchLength, type StreamMasker } from './patterns.js';

/** What the request says about its body that masking depends on. */
export interface MaskContext {
  /** The body belongs to the core `secrets` resource (a Secret, SecretList, Secret Table or watch). */
  secrets: boolean;
}

/** The parts of a request's attributes that masking reads (the gateway's `RequestAttributes` has them). */
export interface MaskedResource {
  isResourceRequest: boolean;
  apiGroup: string;
  resource: string;
}

/**
 * Output that paused this long is released from the stream maskers: a value written in pieces further
 * apart than that is not recognised, the price of a usable shell and of `kubectl logs -f`.
 */
export const outputIdleMs = 30;

/** Records a stream as it is when the policy masks nothing. */
export const passThroughStreamMasker: StreamMasker = { push: (chunk) => chunk, flush: () => Buffer.alloc(0) };

export function maskContextFor(attributes: MaskedResource): MaskContext {
  return { secrets: attributes.isResourceRequest && attributes.apiGroup === '' && attributes.resource === 'secrets' };
}

export interface MaskerOptions {
  /** Longest single JSON string value the streaming masker holds to apply patterns (default 16 MiB). */
  maxStringBytes?: number;
}

export const defaultMaxStringBytes = 16 * 1024 * 1024;

/** maskObject recurses; the API server decodes no deeper than this either. */
const maxObjectDepth = 1000;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function columnNames(table: unknown): string[] | undefined {
  if (!isObject(table) || !Array.isArray(table['columnDefinitions'])) return undefined;
  return table['columnDefinitions'].map((column) => (isObject(column) && typeof column['name'] === 'string' ? column['name'] : ''));
}

/** Without attributes, a body that says it is a Secret (or a watch event of one) is treated as one. */
function looksLikeSecrets(value: unknown): boolean {
  const kinds = new Set(['Secret', 'SecretList']);
  return isObject(value) && (kinds.has(value['kind'] as string) || (isObject(value['object']) && kinds.has(value['object']['kind'] as string)));
}

export class Masker {
  private constructor(
    private readonly secrets: boolean,
    private readonly fields: readonly FieldPath[],
    private readonly patterns: PatternSet,
    private readonly maxStringBytes: number,
  ) {}

  /** Throws MaskingPatternError or MaskingFieldError for a policy that cannot be masked safely. */
  static compile(masking: CompiledPolicy['masking'], options: MaskerOptions = {}): Masker {
    return new Masker(masking.secrets, masking.fields.map(compileFieldPath), PatternSet.compile(masking.patterns), options.maxStringBytes ?? defaultMaxStringBytes);
  }

  /** The longest text one pattern match can examine: what the stream masker holds back, minus one. */
  get maxMatchLength(): number {
    return this.patterns.maxMatchLength;
  }

  /** Whether anything in a JSON body of this context could be masked (if not, skip masking entirely). */
  masksJson(context: MaskContext): boolean {
    return (this.secrets && context.secrets) || this.fields.length > 0 || !this.patterns.empty;
  }

  /** Whether text streams (exec, attach, logs) need masking: only patterns apply to them. */
  get masksText(): boolean {
    return !this.patterns.empty;
  }

  /**
   * A masked copy of a parsed JSON body: a single object, a list, a Table, or one watch event. Without a
   * context, Secret-ness is read from the body's `kind` (list items carry none: pass the context).
   */
  maskObject<T>(value: T, context?: MaskContext): T {
    const rules: MaskRules = { secrets: this.secrets && (context ? context.secrets : looksLikeSecrets(value)), fields: this.fields };
    const columns = { root: columnNames(value), event: isObject(value) ? columnNames(value['object']) : undefined };
    const path: PathSegment[] = [];
    const walk = (node: unknown): unknown => {
      if (path.length > maxObjectDepth) throw new MaskingError(`the body nests deeper than ${maxObjectDepth}`);
      if (typeof node === 'string') {
        const whole = rules.secrets || rules.fields.length > 0 ? wholeValueMask(rules, path, path[0] === 'object' ? columns.event : columns.root) : undefined;
        return whole ?? this.patterns.maskString(node);
      }
      if (Array.isArray(node)) {
        return node.map((item, index) => {
          path.push(index);
          const masked = walk(item);
          path.pop();
          return masked;
        });
      }
      if (!isObject(node)) return node;
      const out: Json = {};
      for (const [key, item] of Object.entries(node)) {
        path.push(key);
        // defineProperty: a `__proto__` key from JSON.parse stays a plain key
        Object.defineProperty(out, key, { value: walk(item), enumerable: true, writable: true, configurable: true });
        path.pop();
      }
      return out;
    };
    return walk(value) as T;
  }

  /** Patterns applied to one complete text. */
  maskText(text: string): string {
    return this.patterns.maskString(text);
  }

  /** For exec/attach output and logs: patterns, byte-wise, holding back at most maxMatchLength - 1 bytes. */
  createStreamMasker(): StreamMasker {
    return this.patterns.createStreamMasker();
  }

  /** For JSON responses of any size, watch streams included, with bounded memory. */
  createJsonStreamMasker(context: MaskContext): StreamMasker {
    return new JsonStreamMasker({ secrets: this.secrets && context.secrets, fields: this.fields }, this.patterns, this.maxStringBytes);
  }
}

/**
 * A stream masker as a Node Transform (for `pipeline`); a masking error fails the stream. With
 * `releaseAfterMs`, text held back for a possible match is let go once the stream pauses that long:
 * `logs -f` must show a last line that no further output follows (see gateway/streams/masked-output.ts for the
 * same trade-off on exec).
 */
export function streamMaskerTransform(masker: StreamMasker, options: { releaseAfterMs?: number } = {}): Transform {
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  const transform: Transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      clearTimeout(timer);
      try {
        const out = masker.push(chunk);
        held += chunk.length - out.length;
        if (held > 0 && options.releaseAfterMs !== undefined) timer = setTimeout(release, options.releaseAfterMs);
        done(null, out.length > 0 ? out : undefined);
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      clearTimeout(timer);
      try {
        const out = masker.flush();
        done(null, out.length > 0 ? out : undefined);
      } catch (error) {
        done(error as Error);
      }
    },
    destroy(error, done) {
      clearTimeout(timer);
      done(error);
    },
  });
  const release = () => {
    try {
      const out = masker.flush();
      held = 0;
      if (out.length > 0) transform.push(out);
    } catch (error) {
      transform.destroy(error as Error);
    }
  };
  return transform;
}
