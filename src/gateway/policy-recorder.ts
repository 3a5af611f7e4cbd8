/**
 * A recorder whose refusal to record becomes `KG_RECORDING_UNAVAILABLE`, the gateway's 503 that names
 * why. (What a policy leaves out of a recording, stdin, is decided where the frames are: upgrade-proxy.ts.)
 */
import { RecordingUnavailableError, type Recorder } from '../recording/recorder.js';
import { GatewayError } from './errors.js';

export function policyRecorder(inner: Recorder): Recorder {
  const refusal = (error: unknown): never => {
    if (error instanceof RecordingUnavailableError) throw new GatewayError('KG_RECORDING_UNAVAILABLE', error.why);
    throw error;
  };
  return {
    healthy: () => inner.healthy(),
    open(metadata, options) {
      const session = inner.open(metadata, options);
      return {
        record(event) {
          return session.record(event).catch(refusal);
        },
        close: (reason) => session.close(reason),
      };
    },
  };
}
