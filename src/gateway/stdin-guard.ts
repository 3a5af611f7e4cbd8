/**
 * Interactive stdin held to the policy (invariant: a refused line never reaches the container). What a
 * person or agent writes to a shell under exec or attach is rebuilt into the lines a shell would run
 * (stdin-lines.ts), one rebuilder per stdin stream (SPDY stream id, WebSocket channel), and each line
 * is judged by the policy once it ends: at a newline, at Enter, at end of file on the stream (a shell
 * runs a last line that has no newline). A refused line ends the session.
 *
 * A line must also be judged before it can run in any other way — a client that drops the connection
 * makes the container's shell read end of file and run what it holds. So the guard also judges every
 * stream's current line as if it ended now, and says whether what was read so far may go on: only
 * while every current line would be allowed. Until then the stream session holds the client's bytes
 * (stream-writers.ts): under deny patterns that is only while a line matches one, under an allow-list
 * while the line is not (yet) an allowed command, so `l` waits for `ls`. The container therefore only
 * ever holds a partial line that would be allowed if it ran.
 */
import type { LineRefusal, PolicyEngine } from './policy-engine.js';
import type { RequestAttributes } from './request-attributes.js';
import type { LineDiscipline, StdinLine } from './stdin-lines.js';
import { StdinLines } from './stdin-lines.js';
import type { StreamFrame } from './streams/frame.js';

/** What the client's frames of one read mean for stdin. */
export type StdinVerdict = { blocked: LineRefusal } | { blocked?: undefined; release: boolean };

/**
 * A boolean query parameter as the API server reads it (apimachinery `Convert_Slice_string_To_bool`):
 * absent is false, and so is a first value of `0` or `false` in any case; anything else, `1`, `yes`
 * and the empty string included, is true.
 */
export function queryBool(values: readonly string[] | undefined): boolean {
  const first = values?.[0];
  return first !== undefined && first !== '0' && first.toLowerCase() !== 'false';
}

/**
 * Who may read stdin in the container: with `tty` a TTY, in canonical mode or under a line editor;
 * without, a pipe — except that attach joins the container's own stdin, which is a TTY when the pod
 * says so whatever the request says, so an attach without `tty` assumes every reader.
 */
export function stdinReaders(attributes: RequestAttributes): LineDiscipline[] {
  if (queryBool(attributes.query['tty'])) return ['canonical', 'readline'];
  return attributes.subresource === 'attach' ? ['pipe', 'canonical', 'readline'] : ['pipe'];
}

export class StdinGuard {
  private readonly streams = new Map<number, StdinLines>();
  private readonly readers: LineDiscipline[];

  constructor(
    private readonly engine: Pick<PolicyEngine, 'checksStdin' | 'refusesStdinLine'>,
    private readonly attributes: RequestAttributes,
  ) {
    this.readers = stdinReaders(attributes);
  }

  /** Judges the stdin of the client's frames of one read. */
  check(frames: readonly StreamFrame[]): StdinVerdict {
    if (!this.engine.checksStdin) return { release: true };
    for (const frame of frames) {
      const ended = this.ended(frame);
      const refusal = this.firstRefusal(ended);
      if (refusal) return { blocked: refusal };
    }
    const current = [...this.streams.values()].flatMap((lines) => lines.pending());
    return { release: this.firstRefusal(current) === undefined };
  }

  private ended(frame: StreamFrame): StdinLine[] {
    if (frame.direction !== 'client-to-server') return [];
    if (frame.channel === 'stdin') return this.lines(frame.stream).push(frame.data);
    if (frame.channel === 'close' && frame.data.toString() === 'stdin') return this.lines(frame.stream).close();
    return [];
  }

  private lines(stream = 0): StdinLines {
    let lines = this.streams.get(stream);
    if (!lines) this.streams.set(stream, (lines = new StdinLines(this.readers)));
    return lines;
  }

  private firstRefusal(lines: StdinLine[]): LineRefusal | undefined {
    for (const line of lines) {
      const refusal = this.engine.refusesStdinLine(line, this.attributes);
      if (refusal) return refusal;
    }
    return undefined;
  }
}
