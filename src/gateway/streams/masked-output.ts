/**
 * Masking of exec and attach output (invariant 9). Where the policy has masking patterns, the gateway
 * stops relaying the server's bytes unchanged: the protocol's one reader (websocket-channel.ts,
 * spdy-streams.ts) passes the stdout and stderr payloads of the frames it read through one pattern
 * masker per channel and re-encodes those frames for kubectl; every other frame keeps its content. The
 * frames the reader yields carry the masked payloads, so neither the client nor the recorder sees a
 * masked value in clear text.
 *
 * A masker holds back up to the patterns' reach so that a value split across two writes is still
 * found; interactive output must not wait for more bytes that may never come, so the stream session
 * asks the reader to `release()` what it holds when output pauses (`outputIdleMs`). A value written
 * in pieces further apart than that is not recognised — the price of a usable shell. Held-back output
 * is also released before any other frame (the exit status, a close), so ordering toward kubectl is
 * kept. Port-forward carries arbitrary TCP and is not masked.
 */
import type { Masker, StreamMasker } from '../../policy/masking/masker.js';
import type { StreamChannel, StreamFrame, StreamRead } from './frame.js';

/** The channels whose payloads are masked. */
export const outputChannels: ReadonlySet<StreamChannel> = new Set(['stdout', 'stderr']);

/** Output maskers by channel number or stream id, created on first output; they hold what may begin a match. */
export class MaskedOutput<Key> {
  private readonly maskers = new Map<Key, StreamMasker>();
  private held = 0;

  constructor(private readonly masker: Masker) {}

  push(key: Key, data: Buffer): Buffer {
    let stream = this.maskers.get(key);
    if (!stream) this.maskers.set(key, (stream = this.masker.createStreamMasker()));
    const out = stream.push(data);
    this.held += data.length - out.length;
    return out;
  }

  /** Flushes one stream (its end) or all of them; yields [key, masked bytes] for each non-empty tail. */
  *release(only?: Key): Generator<[Key, Buffer]> {
    if (this.held <= 0) return;
    for (const [key, stream] of this.maskers) {
      if (only !== undefined && key !== only) continue;
      const out = stream.flush();
      this.held -= out.length;
      if (out.length > 0) yield [key, out];
    }
    if (only === undefined) this.held = 0;
  }

  holding(): boolean {
    return this.held > 0;
  }
}

/** What a re-framing reader yields for the client: the frames it read and their bytes re-encoded, in step. */
export class Reframed {
  private readonly frames: StreamFrame[] = [];
  private readonly bytes: Buffer[] = [];

  add(frames: readonly StreamFrame[], bytes: Buffer): void {
    this.frames.push(...frames);
    if (bytes.length > 0) this.bytes.push(bytes);
  }

  read(): StreamRead {
    return { direction: 'server-to-client', frames: this.frames, forward: Buffer.concat(this.bytes) };
  }
}
