/**
 * What the gateway hands to recording: every request, response, decision and stream frame of a session,
 * through a `Recorder` with back-pressure (a returned promise means "wait before sending more"). The
 * recorder behind it is `StoreRecorder` (src/recording/segment-writer.ts): a durable spool uploaded to
 * `s3://` or `file://`. `policyRecorder` puts the policy's recording settings in front of it.
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

/** The recording settings of the policy in force (`CompiledPolicy.recording`). */
export interface RecordingSettings {
  /** Record what the client types into exec and attach sessions. */
  stdin: boolean;
}

/**
 * The policy's recording settings in front of a recorder: stdin frames are left out when the policy says
 * so, and a refusal to record becomes `KG_RECORDING_UNAVAILABLE`, the gateway's 503 that names why.
 */
export function policyRecorder(inner: Recorder, settings: () => RecordingSettings | undefined): Recorder {
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
          if (event.type === 'stream' && event.channel === 'stdin' && settings()?.stdin === false) return Promise.resolve();
          return session.record(event).catch(refusal);
        },
        close: (reason) => session.close(reason),
      };
    },
  };
}
