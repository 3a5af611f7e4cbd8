/**
 * The gateway's live feed (console contract, "Gateway live events"): what a subscriber of the events
 * endpoint receives, and the messages a worker and the primary exchange over node:cluster's IPC to
 * produce it. Every text in an event is taken from what the recorder was handed, masked as recorded.
 */

export type StreamKind = 'exec' | 'attach' | 'portforward';

export interface LiveStream {
  stream: string;
  kind: StreamKind;
  command?: string[];
  pod: string;
  namespace: string;
}

/** A session in progress, as the `snapshot` event lists it. */
export interface LiveSession {
  session: string;
  subject: { kind: string; name: string; namespace?: string };
  grant: { namespace: string; name: string };
  policy: { namespace: string; name: string };
  started: string;
  worker: number;
  streams: LiveStream[];
}

export type LiveEvent =
  | { type: 'session-start'; session: string; subject: LiveSession['subject']; grant: LiveSession['grant']; policy: LiveSession['policy']; time: string; worker: number }
  | { type: 'request'; session: string; time: string; seq: number; verb: string; path: string; namespace?: string; resource?: string; name?: string; decision: string; rule?: string; status?: number }
  | { type: 'stream-open'; session: string; time: string; stream: string; kind: StreamKind; command?: string[]; pod: string; namespace: string; tty: boolean }
  | { type: 'stream-data'; session: string; time: string; stream: string; channel: 'stdin' | 'stdout' | 'stderr'; text: string }
  | { type: 'stream-close'; session: string; time: string; stream: string; reason?: string }
  | { type: 'session-end'; session: string; time: string; reason?: string };

/** The primary to a worker. `generation` counts the primary's 0 → n subscriber transitions. */
export type PrimaryMessage =
  | { kind: 'kubegate-live-subscribers'; count: number; generation: number }
  | { kind: 'kubegate-live-end-session'; call: number; session: string; by: string };

/** A worker to the primary. */
export type WorkerMessage =
  | { kind: 'kubegate-live-snapshot'; generation: number; sessions: LiveSession[] }
  | { kind: 'kubegate-live-event'; event: LiveEvent }
  | { kind: 'kubegate-live-ended'; call: number; ended: number };

const primaryKinds: ReadonlySet<unknown> = new Set<PrimaryMessage['kind']>(['kubegate-live-subscribers', 'kubegate-live-end-session']);
const workerKinds: ReadonlySet<unknown> = new Set<WorkerMessage['kind']>(['kubegate-live-snapshot', 'kubegate-live-event', 'kubegate-live-ended']);

/** The `kind` of an IPC message (the channel also carries node:cluster's and the supervisor's). */
function kindOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { kind?: unknown }).kind : undefined;
}

export const isPrimaryMessage = (message: unknown): message is PrimaryMessage => primaryKinds.has(kindOf(message));
export const isWorkerMessage = (message: unknown): message is WorkerMessage => workerKinds.has(kindOf(message));
