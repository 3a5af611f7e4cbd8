/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then one
 * `[seconds, code, data]` line per terminal frame, times relative to the first frame. The terminal size
 * is the first resize when it comes before any output (kubectl sends one as it starts), else 80x24; later
 * resizes become "r" events. Output of a stream without a terminal (`kubectl exec` without `-t`) gets
 * "\r\n" for each bare "\n": no line discipline added the carriage return, and a player, being a
 * terminal, would otherwise draw each line where the one before ended.
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
    const data = frame.code === 'o' && !frame.tty ? frame.data.replace(/\r?\n/g, '\r\n') : frame.data;
    yield `${JSON.stringify([Number(((frame.time - start) / 1000).toFixed(6)), frame.code, data])}\n`;
  }
}
