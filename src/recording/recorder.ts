/**
 * The recording contract: what a part that records (the gateway) hands to recording — every request,
 * response, decision and stream frame of a session — through a `Recorder` with back-pressure (a
 * returned promise means "wait before sending more"). The recorder behind it is `StoreRecorder`
 * (store-recorder.ts): a durable spool uploaded to `s3://` or `file://`.
 */
import type { RecordEvent, SessionMetadata } from './format.js';

export type { SessionMetadata, RecordEvent } from './format.js';

/** StoreRecorder's defaults (here, apart from it: `kubegate gateway`'s flags show them without loading it). */
export const recorderDefaults = { maxSegmentBytes: 8 * 1024 * 1024, maxSegmentAgeMs: 10_000, syncIntervalMs: 150, highWaterMark: 1024 * 1024, stopTimeoutMs: 10_000 } as const;

/**
 * Why an event was refused: the store or the spool cannot take it and the policy forbids going on
 * unrecorded. Callers recognise it by type (`instanceof`); `why` is the reason without the prefix.
 */
export class RecordingUnavailableError extends Error {
  constructor(readonly why: string) {
    super(`recording is unavailable: ${why}`);
    this.name = 'RecordingUnavailableError';
  }
}

export interface SessionRecorder {
  /**
   * Resolves when the event is accepted; callers wait on it before producing more (back-pressure).
   * Rejects with `RecordingUnavailableError` when it cannot be recorded and the policy forbids going on
   * unrecorded (fail-closed): the request must not be forwarded, the stream must end.
   */
  record(event: RecordEvent): Promise<void>;
  close(reason: string): Promise<void>;
}

export interface OpenOptions {
  /**
   * The session id is the client invocation's, not this process's own: other gateway processes record
   * the same session, and this one may open it again after it idled. The recording is then a chain of
   * its own (a writer id and spool folder of its own each time), beside the others.
   */
  joinable?: boolean;
}

export interface Recorder {
  open(metadata: SessionMetadata, options?: OpenOptions): SessionRecorder;
  /** False while nothing can be recorded (fail-closed policies refuse requests then). */
  healthy(): boolean;
}
