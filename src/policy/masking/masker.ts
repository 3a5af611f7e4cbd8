/**
 * Masking (security invariant 9: masked values never reach the client or the store in clear text),
 * compiled once when the policy loads from its `masking: {secrets, fields, patterns}` (and once per Mask
 * rule, `compileForRule`, which the gateway uses for the requests that rule decides):
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
import { compileFieldPath, MaskingError, masksWholeValues, wholeValueMask, type FieldPath, type MaskRules, type PathSegment } from './paths.js';
import { PatternSet, type StreamMasker } from './patterns.js';

export { compileFieldPath, type PathSegment, MaskingError, MaskingFieldError, maskedSecretData, maskedValue } from './paths.js';
export { MaskingPatternError, maxMatchLength, type StreamMasker } from './patterns.js';

/** What the request says about its body that masking depends on. */
export interface MaskContext {
  /** The body belongs to the core `secrets` resource (a Secret, SecretList, Secret Table or watch). */
  secrets: boolean;
  /** The body is a TokenRequest (`serviceaccounts/token`), whose `status.token` is a bearer token. */
  tokenRequest?: true;
}

/** The parts of a request's attributes that masking reads (the gateway's `RequestAttributes` has them). */
export interface MaskedResource {
  isResourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
}

/**
 * Output that paused this long is released from the stream maskers: a value written in pieces further
 * apart than that is not recognised, the price of a usable shell and of `kubectl logs -f`.
 */
export const outputIdleMs = 30;

/** Records a stream as it is when the policy masks nothing. */
export const passThroughStreamMasker: StreamMasker = { push: (chunk) => chunk, flush: () => Buffer.alloc(0) };

export function maskContextFor(attributes: MaskedResource): MaskContext {
  const core = attributes.isResourceRequest && attributes.apiGroup === '';
  return { secrets: core && attributes.resource === 'secrets', ...(core && attributes.resource === 'serviceaccounts' && attributes.subresource === 'token' ? { tokenRequest: true as const } : {}) };
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

/** Output masked whole (a Mask rule without patterns): every byte but line breaks becomes `*`, so the shape of the output stays. */
const wholeTextMasker: StreamMasker = {
  push: (chunk) => Buffer.from(chunk.map((byte) => (byte === 0x0a || byte === 0x0d ? byte : 0x2a))),
  flush: () => Buffer.alloc(0),
};

/** What a Mask rule adds to the policy's masking (its `masking`). */
export interface RuleMasking {
  fields: string[];
  patterns: string[];
}

export class Masker {
  private constructor(
    private readonly secrets: boolean,
    private readonly fields: readonly FieldPath[],
    private readonly patterns: PatternSet,
    private readonly maxStringBytes: number,
    /** A Mask rule's masker: Secret-style masking applies to whatever the rule matched, and output without a pattern of its own is masked whole. */
    private readonly rule?: { wholeText: boolean },
  ) {}

  /** Throws MaskingPatternError or MaskingFieldError for a policy that cannot be masked safely. */
  static compile(masking: CompiledPolicy['masking'], options: MaskerOptions = {}): Masker {
    return new Masker(masking.secrets, masking.fields.map(compileFieldPath), PatternSet.compile(masking.patterns), options.maxStringBytes ?? defaultMaxStringBytes);
  }

  /**
   * The masker of a Mask rule, compiled with the policy: the policy's masking, plus what Secret masking
   * masks (`data`, `binaryData`, `stringData`, the last-applied annotation, table cells) in whatever
   * object the rule matched, the rule's own fields, and its patterns; text output (logs, exec and attach)
   * is masked whole when the rule names no pattern of its own.
   */
  static compileForRule(policy: CompiledPolicy['masking'], rule: RuleMasking, options: MaskerOptions = {}): Masker {
    const fields = [...policy.fields, ...rule.fields].map(compileFieldPath);
    const patterns = PatternSet.compile([...policy.patterns, ...rule.patterns]);
    return new Masker(true, fields, patterns, options.maxStringBytes ?? defaultMaxStringBytes, { wholeText: rule.patterns.length === 0 });
  }

  /** The longest text one pattern match can examine: what the stream masker holds back, minus one. */
  get maxMatchLength(): number {
    return this.patterns.maxMatchLength;
  }

  /** Whether anything in a JSON body of this context could be masked (if not, skip masking entirely). */
  masksJson(context: MaskContext): boolean {
    return masksWholeValues(this.rulesFor(context)) || !this.patterns.empty;
  }

  /** Whether text streams (exec, attach output, logs) need masking: patterns, or a Mask rule's whole-output masking. */
  get masksText(): boolean {
    return this.rule?.wholeText === true || !this.patterns.empty;
  }

  private rulesFor(context: MaskContext): MaskRules {
    return { secrets: this.secrets && (this.rule !== undefined || context.secrets), ...(this.secrets && context.tokenRequest ? { token: true } : {}), fields: this.fields };
  }

  /**
   * A masked copy of a parsed JSON body: a single object, a list, a Table, or one watch event. Without a
   * context, Secret-ness is read from the body's `kind` (list items carry none: pass the context).
   */
  maskObject<T>(value: T, context?: MaskContext): T {
    return this.maskValueAt(value, [], context ?? { secrets: looksLikeSecrets(value) });
  }

  /**
   * A masked copy of `value` as if it sat at `at` in an object of this context: a JSON patch's `value`
   * at the place its `path` names.
   */
  maskValueAt<T>(value: T, at: readonly PathSegment[], context: MaskContext): T {
    const rules = this.rulesFor(context);
    const columns = { root: columnNames(value), event: isObject(value) ? columnNames(value['object']) : undefined };
    const path: PathSegment[] = [...at];
    const walk = (node: unknown): unknown => {
      if (path.length > maxObjectDepth) throw new MaskingError(`the body nests deeper than ${maxObjectDepth}`);
      if (typeof node === 'string') {
        const whole = masksWholeValues(rules) ? wholeValueMask(rules, path, path[0] === 'object' ? columns.event : columns.root) : undefined;
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

  /** Patterns applied to one complete text (a request path, an exec argument). */
  maskText(text: string): string {
    return this.patterns.maskString(text);
  }

  /** Whether `maskText` can change anything: there are patterns. */
  get hasPatterns(): boolean {
    return !this.patterns.empty;
  }

  /** For exec/attach output and logs: patterns, byte-wise, holding back at most maxMatchLength - 1 bytes; or the whole output (see compileForRule). */
  createStreamMasker(): StreamMasker {
    return this.rule?.wholeText ? wholeTextMasker : this.patterns.createStreamMasker();
  }

  /** For what the recording keeps of stdin: patterns only (a Mask rule masks output, not what was typed). */
  createInputMasker(): StreamMasker {
    return this.patterns.empty ? passThroughStreamMasker : this.patterns.createStreamMasker();
  }

  /** For JSON responses of any size, watch streams included, with bounded memory. */
  createJsonStreamMasker(context: MaskContext): StreamMasker {
    return new JsonStreamMasker(this.rulesFor(context), this.patterns, this.maxStringBytes);
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
