/**
 * The first `cap` bytes of a response, kept for its recording until the response ends: in memory, and
 * once the response has run `spillAfterMs` all but the first `memoryBytes` in a file of its own in the
 * spill folder (made by the gateway at start) while it runs on.
 * A watch or a `logs -f` holds its response open for as long as it runs, and its recording (FORMAT.md:
 * the body up to the policy's `maxBodyBytes`) is written at its end: 1,000 watches of a namespace of
 * 500 ConfigMaps held ~500 KiB each in memory (the initial events), growing the gateway by ~580 MiB.
 * What is recorded is the same bytes either way. Should the spill file fail (a full disk), what it held
 * is lost and the recording says the body was cut (`bodyTruncated`, with its full size).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { recordedBody, type RecordedBody } from '../util/recorded-body.js';

/** Bytes of a response's capture held in memory once it has run `spillAfterMs`; the rest goes to its spill file. */
export const inMemoryCaptureBytes = 64 * 1024;
/**
 * How long a response's capture may hold more than that in memory: most responses (a GET, a LIST) end
 * well within it and never touch the disk; one still running then (a watch, `logs -f`, a slow reader)
 * moves its excess to the file and goes on there.
 */
export const spillAfterMs = 250;

interface Spill {
  path: string;
  stream: WriteStream;
  /** Whether every byte written reached the file. */
  written: Promise<boolean>;
}

export class BodyCapture {
  private inMemory: Buffer[] = [];
  private inMemoryBytes = 0;
  /** Bytes kept (in memory or in the spill file), and seen in all. */
  private kept = 0;
  private total = 0;
  private spill?: Spill;
  private spillTimer?: NodeJS.Timeout;

  constructor(
    private readonly cap: number,
    private readonly spillDir?: string,
    private readonly limits = { memoryBytes: inMemoryCaptureBytes, spillAfterMs },
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.kept >= this.cap) return;
    const part = chunk.subarray(0, this.cap - this.kept);
    this.kept += part.length;
    if (this.spill) return void this.spill.stream.write(part);
    this.inMemory.push(part);
    this.inMemoryBytes += part.length;
    if (this.spillDir && this.inMemoryBytes > this.limits.memoryBytes) this.spillTimer ??= setTimeout(() => this.spillExcess(), this.limits.spillAfterMs);
  }

  /** The recorded body; the spill file, if any, is read and removed. */
  async captured(contentType: string | undefined): Promise<RecordedBody> {
    clearTimeout(this.spillTimer);
    const inMemory = this.inMemory.length === 1 ? this.inMemory[0]! : Buffer.concat(this.inMemory);
    if (!this.spill) return recordedBody(inMemory, this.total, contentType);
    const { path, stream, written } = this.spill;
    stream.end();
    try {
      const spilled = (await written) ? await readFile(path).catch(() => Buffer.alloc(0)) : Buffer.alloc(0);
      return recordedBody(Buffer.concat([inMemory, spilled]), this.total, contentType);
    } finally {
      await rm(path, { force: true }).catch(() => undefined);
    }
  }

  /** The first `memoryBytes` stay in memory (copied, so that the chunks behind them can go); the rest to the file. */
  private spillExcess(): void {
    const all = Buffer.concat(this.inMemory);
    this.inMemory = [Buffer.from(all.subarray(0, this.limits.memoryBytes))];
    this.inMemoryBytes = this.inMemory[0]!.length;
    this.spill = openSpill(this.spillDir!);
    this.spill.stream.write(all.subarray(this.limits.memoryBytes));
  }
}

function openSpill(dir: string): Spill {
  const path = join(dir, `${randomUUID()}.body`);
  const stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  const written = new Promise<boolean>((resolve) => {
    stream.once('finish', () => resolve(true));
    // every error, not once: a write after the first failure reports again, and an unheard error would end the process
    stream.on('error', () => resolve(false));
  });
  return { path, stream, written };
}
