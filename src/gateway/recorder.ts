/**
 * What the gateway hands to recording: every request, response, decision and stream frame of a session,
 * through a `Recorder` with back-pressure (a returned promise means "wait before sending more"). The
 * recorder behind it is `StoreRecorder` (src/recording/segment-writer.ts): a durable spool uploaded to
 * `s3://` or `file://`. `policyRecorder` turns its refusals into the gateway's error.
 */
import type { RecordEvent, SessionMetadata } from '../recording/format.js';
import { GatewayError } from './errors.js';

export type { SessionMetadata, RecordEvent } from '../recording/format.js';

export interface SessionRecorder {
  /**
   * Resolves when the event is accepted; callers wait on it before producing more (back-pressure).
   * Rejects when it cannot be recorded and the policy forbids going on unrecorded (fail-closed): the
   * request must not be forwarded, the stream must end.
   */
  record(event: RecordEvent): Promise<void>;
  close(reason: string): Promise<void>;
}

export interface Recorder {
  open(metadata: SessionMetadata): SessionRecorder;
  /** False while nothing can be recorded (fail-closed policies refuse requests then). */
  healthy(): boolean;
}

/**
 * A recorder whose refusal to record becomes `KG_RECORDING_UNAVAILABLE`, the gateway's 503 that names
 * why. (What a policy leaves out of a recording, stdin, is decided where the frames are: upgrade-proxy.ts.)
 */
export function policyRecorder(inner: Recorder): Recorder {
  const refusal = (error: unknown): never => {
    if (error instanceof Error && error.name === 'RecordingUnavailableError') throw new GatewayError('KG_RECORDING_UNAVAILABLE', error.message.replace(/^recording is unavailable: /, ''));
    throw error;
  };
  return {
    healthy: () => inner.healthy(),
    open(metadata) {
      const session = inner.open(metadata);
      return {
        record(event) {
          return session.record(event).catch(refusal);
        },
        close: (reason) => session.close(reason),
      };
    },
  };
}
