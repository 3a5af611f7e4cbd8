/**
 * Where a report's text goes: a writable stream, written with its backpressure honoured; and a body held in
 * a temporary file, for the formats whose summary comes first but is known only at the end.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';

export class Sink {
  constructor(readonly out: Writable) {}

  async write(text: string): Promise<void> {
    if (!this.out.write(text)) await once(this.out, 'drain');
  }
}

/** Text written now, copied to `out` later behind a head: never held in memory. */
export class DeferredBody {
  private readonly dir = mkdtempSync(join(tmpdir(), 'kubegate-report-'));
  private readonly file = join(this.dir, 'body');
  readonly sink = new Sink(createWriteStream(this.file));

  /** Writes `head`, the body, then `tail` to `out`, and removes the temporary file. */
  async copyTo(out: Sink, head: string, tail: string): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => this.sink.out.end((error?: Error | null) => (error ? reject(error) : resolve())));
      await out.write(head);
      await pipeline(createReadStream(this.file), out.out, { end: false });
      await out.write(tail);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
