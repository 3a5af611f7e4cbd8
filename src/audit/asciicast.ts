/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then one
 * `[seconds, code, data]` line per terminal frame, times relative to the first frame. The terminal size
 * is the first resize when it comes before any output (kubectl sends one as it starts), else 80x24; later
 * resizes become "r" events.
 */
import type { TerminalFrame } from './playback.js';

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp: number;
  title?: string;
}

const defaultSize = { width: 80, height: 24 };

/** The lines of the cast, each ending in a newline; nothing at all when the session has no terminal. */
export async function* asciicastLines(frames: AsyncIterable<TerminalFrame>, title?: string): AsyncGenerator<string> {
  let start: number | undefined;
  for await (const frame of frames) {
    if (start === undefined) {
      start = frame.time;
      const [width, height] = frame.code === 'r' ? frame.data.split('x').map(Number) : [defaultSize.width, defaultSize.height];
      const header: AsciicastHeader = { version: 2, width: width!, height: height!, timestamp: Math.floor(start / 1000), ...(title ? { title } : {}) };
      yield `${JSON.stringify(header)}\n`;
      if (frame.code === 'r') continue;
    }
    yield `${JSON.stringify([Number(((frame.time - start) / 1000).toFixed(6)), frame.code, frame.data])}\n`;
  }
}
