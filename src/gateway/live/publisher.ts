/**
 * The worker's side of the live feed: one more consumer of what the gateway records. `tee` wraps the
 * worker's Recorder, so every event the feed sees is the one recorded, masked. The feed costs the hot
 * path nothing while nobody watches: the primary tells each worker how many subscribers it has, and
 * until that is more than none no live event is built, encoded or sent — the publisher only keeps its
 * table of sessions in progress (a session's start and end, an exec/attach/port-forward request's
 * target until its stream opens or fails), which the first subscriber's snapshot needs.
 *
 * A `request` event goes out once the request's outcome is known: its response (with the status), its
 * stream opening (101), or its upgrade failing. `seq` counts the requests of a session in this worker.
 * What the IPC channel has not yet taken is bounded: beyond `maxUnsent` messages the data events
 * (`request`, `stream-data`) are dropped and counted, the events the snapshot is built from never are.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Recorder, RecordEvent, SessionMetadata } from '../../recording/recorder.js';
import { realClock, type Clock } from '../../runtime/reconciler.js';
import type { RequestAttributes } from '../request-attributes.js';
import { isPrimaryMessage, type LiveEvent, type LiveSession, type LiveStream, type PrimaryMessage, type StreamKind, type WorkerMessage } from './events.js';

/** The worker's IPC channel to the primary (`process.send` and its `message` events). */
export interface LiveChannel {
  send(message: WorkerMessage, sent: () => void): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** What the publisher needs of the gateway it serves. */
export interface LiveTarget {
  /** Ends the running requests and streams of `session`, recorded with `reason`; how many. */
  endSession(session: string, reason: string): number;
}

export interface LivePublisherOptions {
  worker: number;
  /** None outside node:cluster (a gateway run in-process): nobody can subscribe. */
  channel?: LiveChannel;
  logger: Logger;
  clock?: Clock;
  maxUnsent?: number;
}

/** Bytes of a stream-data event's text at most. */
export const maxStreamText = 4096;
const streamKinds: ReadonlySet<string> = new Set<StreamKind>(['exec', 'attach', 'portforward']);
type LiveStreamChannel = Extract<LiveEvent, { type: 'stream-data' }>['channel'];
const liveStreamChannels: ReadonlySet<string> = new Set<LiveStreamChannel>(['stdin', 'stdout', 'stderr']);
const isLiveStreamChannel = (channel: string): channel is LiveStreamChannel => liveStreamChannels.has(channel);

type Upgrade = Omit<LiveStream, 'stream'> & { tty: boolean };
interface PendingRequest {
  verb: string;
  path: string;
  namespace?: string;
  resource?: string;
  name?: string;
  decision: string;
  rule?: string;
}
interface Tracked {
  live: LiveSession;
  /** Exec/attach/port-forward requests whose stream has not opened yet, by request id. */
  upgrades: Map<string, Upgrade>;
  /** While subscribed: requests whose outcome is not known yet. */
  requests: Map<string, PendingRequest>;
  seq: number;
}

export class LivePublisher {
  private readonly clock: Clock;
  private readonly sessions = new Map<string, Tracked>();
  private subscribed = false;
  private generation = -1;
  private unsent = 0;
  private target?: LiveTarget;
  private readonly sent: Counter;
  private readonly dropped: Counter;

  constructor(private readonly options: LivePublisherOptions) {
    this.clock = options.clock ?? realClock;
    const labels = { worker: String(options.worker) };
    this.sent = new Counter({ name: 'kubegate_live_events_sent_total', help: 'live feed messages this worker sent the primary (none while nobody subscribes)', labelNames: ['worker'], registers: [] });
    this.dropped = new Counter({ name: 'kubegate_live_events_dropped_total', help: 'live request and stream-data events dropped while the IPC channel was backed up', labelNames: ['worker'], registers: [] });
    this.sent.inc(labels, 0);
    this.dropped.inc(labels, 0);
    options.channel?.onMessage((message) => {
      if (!isPrimaryMessage(message)) return;
      try {
        this.receive(message);
      } catch (error) {
        options.logger.error({ err: error }, 'live feed: a message from the primary could not be handled');
      }
    });
  }

  /** The gateway this publisher serves, and the registry its counters join. */
  attach(target: LiveTarget, registry: Registry): void {
    this.target = target;
    registry.registerMetric(this.sent);
    registry.registerMetric(this.dropped);
  }

  /** `inner`, with every session and event it records also seen by the feed. */
  tee(inner: Recorder): Recorder {
    return {
      healthy: () => inner.healthy(),
      open: (metadata, options) => {
        const recorder = inner.open(metadata, options);
        this.guard(() => this.opened(metadata));
        const id = metadata.sessionId;
        return {
          record: (event) => {
            this.guard(() => this.observe(id, event));
            return recorder.record(event);
          },
          close: (reason) => {
            this.guard(() => this.closed(id, reason));
            return recorder.close(reason);
          },
        };
      },
    };
  }

  /** A fault of the feed is logged and never reaches the recording it watches. */
  private guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.options.logger.error({ err: error }, 'live feed failed on a recorded event: a bug in the gateway');
    }
  }

  private receive(message: PrimaryMessage): void {
    if (message.kind === 'kubegate-live-end-session') {
      const ended = this.target?.endSession(message.session, `ended by ${message.by}`) ?? 0;
      this.send({ kind: 'kubegate-live-ended', call: message.call, ended });
      return;
    }
    this.subscribed = message.count > 0;
    if (!this.subscribed) for (const tracked of this.sessions.values()) tracked.requests.clear();
    else if (message.generation !== this.generation) {
      this.generation = message.generation;
      this.send({ kind: 'kubegate-live-snapshot', generation: message.generation, sessions: [...this.sessions.values()].map((tracked) => structuredClone(tracked.live)) });
    }
  }

  private opened(metadata: SessionMetadata): void {
    const { sessionId: session, subject, grant, policy, startedAt } = metadata;
    const live: LiveSession = { session, subject, grant: { namespace: grant.namespace, name: grant.name }, policy: { namespace: policy.namespace, name: policy.name }, started: startedAt, worker: this.options.worker, streams: [] };
    this.sessions.set(session, { live, upgrades: new Map(), requests: new Map(), seq: 0 });
    this.emit(() => ({ type: 'session-start', session, subject: live.subject, grant: live.grant, policy: live.policy, time: startedAt, worker: live.worker }));
  }

  private closed(session: string, reason: string): void {
    if (!this.sessions.delete(session)) return;
    this.emit(() => ({ type: 'session-end', session, time: this.now(), reason }));
  }

  private observe(session: string, event: RecordEvent): void {
    const tracked = this.sessions.get(session);
    if (!tracked) return;
    switch (event.type) {
      case 'request':
        return this.requested(tracked, event.requestId, event.path, event.attributes as Partial<RequestAttributes>);
      case 'decision': {
        const pending = tracked.requests.get(event.requestId);
        if (pending) Object.assign(pending, { decision: event.action, rule: event.rule });
        return;
      }
      case 'response':
        tracked.upgrades.delete(event.requestId);
        return this.answered(tracked, event.requestId, event.status);
      case 'stream-open':
        return this.streamOpened(tracked, event.requestId, event.command);
      case 'stream': {
        const { channel, requestId, data } = event;
        if (this.subscribed && isLiveStreamChannel(channel)) this.emit(() => ({ type: 'stream-data', session, time: this.now(), stream: requestId, channel, text: streamText(data) }), true);
        return;
      }
      case 'stream-close':
        return this.streamClosed(tracked, event.requestId, event.reason);
      default:
        return;
    }
  }

  private requested(tracked: Tracked, requestId: string, path: string, attributes: Partial<RequestAttributes>): void {
    if (streamKinds.has(attributes.subresource ?? '')) {
      const tty = attributes.query?.['tty']?.[0] === 'true';
      tracked.upgrades.set(requestId, { kind: attributes.subresource as StreamKind, pod: attributes.name ?? '', namespace: attributes.namespace ?? '', tty });
    }
    if (!this.subscribed) return;
    const { verb = '', namespace, resource, name } = attributes;
    tracked.requests.set(requestId, { verb, path, ...(namespace ? { namespace } : {}), ...(resource ? { resource } : {}), ...(name ? { name } : {}), decision: '' });
  }

  private answered(tracked: Tracked, requestId: string, status?: number): void {
    const pending = tracked.requests.get(requestId);
    if (!pending) return;
    tracked.requests.delete(requestId);
    const { rule, ...rest } = pending;
    this.emit(() => ({ type: 'request', session: tracked.live.session, time: this.now(), seq: ++tracked.seq, ...rest, ...(rule ? { rule } : {}), ...(status === undefined ? {} : { status }) }), true);
  }

  private streamOpened(tracked: Tracked, requestId: string, command?: string[]): void {
    const upgrade = tracked.upgrades.get(requestId);
    if (!upgrade) return;
    tracked.upgrades.delete(requestId);
    const { tty, ...rest } = upgrade;
    const stream: LiveStream = { stream: requestId, ...rest, ...(command ? { command } : {}) };
    tracked.live.streams.push(stream);
    this.answered(tracked, requestId, 101);
    this.emit(() => ({ type: 'stream-open', session: tracked.live.session, time: this.now(), ...stream, tty }));
  }

  private streamClosed(tracked: Tracked, requestId: string, reason: string): void {
    const index = tracked.live.streams.findIndex((stream) => stream.stream === requestId);
    if (index < 0) {
      // an upgrade that never opened
      tracked.upgrades.delete(requestId);
      return this.answered(tracked, requestId);
    }
    tracked.live.streams.splice(index, 1);
    this.emit(() => ({ type: 'stream-close', session: tracked.live.session, time: this.now(), stream: requestId, reason }));
  }

  /** Sends the event `build` makes, only while subscribed; a data event is dropped while the channel is backed up. */
  private emit(build: () => LiveEvent, droppable = false): void {
    if (!this.subscribed) return;
    if (droppable && this.unsent >= (this.options.maxUnsent ?? 1000)) {
      this.dropped.inc({ worker: String(this.options.worker) });
      return;
    }
    this.send({ kind: 'kubegate-live-event', event: build() });
  }

  private send(message: WorkerMessage): void {
    const { channel } = this.options;
    if (!channel) return;
    this.unsent++;
    this.sent.inc({ worker: String(this.options.worker) });
    channel.send(message, () => this.unsent--);
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

/** A recorded stream payload (base64) as text, at most `maxStreamText` bytes of it. */
function streamText(data: string): string {
  const bytes = Buffer.from(data, 'base64');
  return (bytes.length > maxStreamText ? bytes.subarray(0, maxStreamText) : bytes).toString('utf8');
}

/** The channel of a node:cluster worker: its IPC to the primary. */
export function processChannel(): LiveChannel | undefined {
  if (!process.send) return undefined;
  return {
    send: (message, sent) => void process.send!(message, undefined, {}, () => sent()),
    onMessage: (listener) => void process.on('message', listener),
  };
}
