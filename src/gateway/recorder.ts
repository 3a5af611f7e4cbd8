/**
 * What the gateway hands to recording: every request, response, decision and stream frame of a session,
 * through a `Recorder` with back-pressure (a returned promise means "wait before sending more"). The
 * embedded default writes JSON Lines files; the recording issue plugs S3 in behind the same interface.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { recordingFormatVersion, type RecordEvent, type SessionMetadata } from '../recording/format.js';

export type { SessionMetadata, RecordEvent } from '../recording/format.js';

export interface SessionRecorder {
  /** Resolves when the event is accepted; callers wait on it before producing more (back-pressure). */
  record(event: RecordEvent): Promise<void>;
  close(reason: string): Promise<void>;
}

export interface Recorder {
  open(metadata: SessionMetadata): SessionRecorder;
  /** False while nothing can be recorded (fail-closed policies refuse requests then). */
  healthy(): boolean;
}

/** JSON Lines per session under `dir/sessions/YYYY/MM/DD/<subject>/<session-id>.jsonl`. */
export class FileRecorder implements Recorder {
  constructor(private readonly dir: string) {}

  healthy(): boolean {
    return true;
  }

  open(metadata: SessionMetadata): SessionRecorder {
    const day = metadata.startedAt.slice(0, 10).replaceAll('-', '/');
    const folder = join(this.dir, 'sessions', day, metadata.subject.name.replace(/[^A-Za-z0-9._-]/g, '_'));
    mkdirSync(folder, { recursive: true });
    const out: WriteStream = createWriteStream(join(folder, `${metadata.sessionId}.jsonl`), { flags: 'a' });
    let failed: Error | undefined;
    out.on('error', (error) => (failed = error));
    const write = (line: object): Promise<void> => {
      if (failed) return Promise.reject(failed);
      const ok = out.write(JSON.stringify({ v: recordingFormatVersion, time: new Date().toISOString(), ...line }) + '\n');
      return ok ? Promise.resolve() : new Promise((resolve) => out.once('drain', resolve));
    };
    void write({ type: 'session-start', ...metadata });
    return {
      record: (event) => write(event),
      close: async (reason) => {
        await write({ type: 'session-end', reason });
        await new Promise<void>((resolve) => out.end(resolve));
      },
    };
  }
}
