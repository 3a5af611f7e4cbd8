/**
 * `sessions play`: the terminal side of a session's exec and attach streams — what the user saw
 * (stdout, stderr), typed (stdin) and how big the terminal was (resize) — as timed frames, replayed to a
 * terminal at real or scaled speed. Port-forward data is not terminal output and is left out.
 */
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '../recording/format.js';

export interface TerminalFrame {
  /** Milliseconds since the epoch. */
  time: number;
  /** asciicast's event codes: output, input, resize ("COLSxROWS"). */
  code: 'o' | 'i' | 'r';
  data: string;
  requestId: string;
  /** The stream has a terminal (the request asked for `tty`): its line discipline already turned "\n" into "\r\n". */
  tty: boolean;
}

const channelCodes: Partial<Record<string, 'o' | 'i'>> = { stdout: 'o', stderr: 'o', stdin: 'i' };

/** The terminal frames of a session's events, text decoded across frame boundaries. */
export async function* terminalFrames(events: AsyncIterable<RecordedEvent>): AsyncGenerator<TerminalFrame> {
  const decoders = new Map<string, StringDecoder>();
  const terminals = new Set<string>();
  for await (const event of events) {
    if (event.type === 'request' && asksForTty(event.path)) terminals.add(event.requestId);
    const tty = 'requestId' in event && terminals.has(event.requestId);
    if (event.type === 'stream-close') {
      for (const [id, decoder] of decoders) {
        if (!id.startsWith(`${event.requestId}\0`)) continue;
        const rest = decoder.end();
        decoders.delete(id);
        const code = channelCodes[id.slice(id.indexOf('\0') + 1)];
        if (rest && code) yield { time: Date.parse(event.time), code, data: rest, requestId: event.requestId, tty };
      }
    }
    if (event.type !== 'stream' || event.port !== undefined) continue;
    const time = Date.parse(event.time);
    if (event.channel === 'resize') {
      const size = terminalSize(event.data);
      if (size) yield { time, code: 'r', data: size, requestId: event.requestId, tty };
      continue;
    }
    const code = channelCodes[event.channel];
    if (!code) continue;
    const id = `${event.requestId}\0${event.channel}`;
    let decoder = decoders.get(id);
    if (!decoder) decoders.set(id, (decoder = new StringDecoder('utf8')));
    const data = decoder.write(Buffer.from(event.data, 'base64'));
    if (data) yield { time, code, data, requestId: event.requestId, tty };
  }
}

/** The exec or attach request's `tty` query parameter, true as the API server parses a bool (Go's strconv.ParseBool). */
function asksForTty(path: string): boolean {
  const query = path.indexOf('?');
  if (query < 0) return false;
  return ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(new URLSearchParams(path.slice(query + 1)).get('tty') ?? '');
}

/** Kubernetes' resize message, `{"Width":80,"Height":24}`, as asciicast's "80x24". */
function terminalSize(data: string): string | undefined {
  try {
    const size = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { Width?: unknown; Height?: unknown };
    return typeof size.Width === 'number' && typeof size.Height === 'number' ? `${size.Width}x${size.Height}` : undefined;
  } catch {
    return undefined;
  }
}

export interface PlayOptions {
  /** 1 is real time, 2 twice as fast; 0 plays without waiting. */
  speed: number;
  /** Longest pause between two frames, in ms, after scaling; none by default. */
  idleLimitMs?: number;
  /** Also show what was typed (stdin), which a terminal with echo already shows in the output. */
  input?: boolean;
  wait?: (ms: number) => Promise<unknown>;
}

/** Writes the output frames to `out` with the recorded pauses between them, scaled. */
export async function play(frames: AsyncIterable<TerminalFrame>, out: NodeJS.WritableStream, options: PlayOptions): Promise<void> {
  const wait = options.wait ?? sleep;
  let previous: number | undefined;
  for await (const frame of frames) {
    if (frame.code === 'r' || (frame.code === 'i' && !options.input)) continue;
    if (previous !== undefined && options.speed > 0) {
      const pause = Math.min((frame.time - previous) / options.speed, options.idleLimitMs ?? Infinity);
      if (pause > 0) await wait(pause);
    }
    previous = frame.time;
    if (!out.write(frame.data)) await new Promise((resolve) => out.once('drain', resolve));
  }
}
