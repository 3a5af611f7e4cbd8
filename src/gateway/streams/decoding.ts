/**
 * The runtime pieces every decoder shares. They live apart from frame.ts because frame.ts imports
 * every decoder (for `decoderFor`): decoders importing values back from it would form an import
 * cycle, which breaks as soon as a module in it evaluates `extends` of another.
 */
import type { Direction } from './frame.js';

/** A malformed or unacceptable frame: ends that one session, never the gateway. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** The direction whose bytes were rejected, once known. */
  direction?: Direction;
}

/** The `metav1.Status` kubectl prints as "error: <message>" when it arrives on the error channel. */
export function forbiddenStatus(message: string): Buffer {
  return Buffer.from(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', code: 403 }));
}

/**
 * Bytes received but not yet parsed. Chunks are kept as they arrived and joined only when a frame
 * needs them contiguous, so a frame split over many reads costs one copy, not one per read.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private offset = 0;
  length = 0;

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  /** The first `n` bytes (0 < n ≤ length), left in the queue. */
  peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (let i = 0; filled < n; i++) {
      const chunk = this.chunks[i]!;
      const start = i === 0 ? this.offset : 0;
      filled += chunk.copy(out, filled, start, Math.min(chunk.length, start + n - filled));
    }
    return out;
  }

  /** Removes and returns the first `n` bytes (n ≤ length); shares memory with the pushed chunks. */
  take(n: number): Buffer {
    const out = n === 0 ? Buffer.alloc(0) : this.peek(n);
    this.length -= n;
    while (n > 0) {
      const available = this.chunks[0]!.length - this.offset;
      if (n < available) {
        this.offset += n;
        break;
      }
      n -= available;
      this.chunks.shift();
      this.offset = 0;
    }
    return out;
  }
}
