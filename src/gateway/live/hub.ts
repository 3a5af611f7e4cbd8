/**
 * The primary's side of the live feed: the one place every worker's events meet. It tells the workers
 * how many subscribers there are (a worker sends nothing while there are none), keeps the snapshot of
 * the sessions in progress from the events (a dead worker's sessions leave it, each with a
 * `session-end`; a session several workers record is one), and writes each event once formatted as an SSE message to every subscriber. A
 * subscriber that does not keep up — more than `maxBufferedBytes` not yet taken by its connection —
 * is dropped, never buffered without limit.
 *
 * The first subscriber after none starts a new generation: each serving worker answers with its own
 * snapshot, and until all have (or `syncTimeoutMs` passed) subscribers wait for theirs. Events of a
 * worker before its snapshot of the generation are stale and ignored.
 */
import type { Logger } from 'pino';
import { realClock, type Clock } from '../../runtime/reconciler.js';
import { sseJson } from '../../util/server-sent-events.js';
import { isWorkerMessage, type LiveEvent, type LiveSession, type PrimaryMessage, type WorkerMessage } from './events.js';

/** A subscriber's connection. */
export interface LiveSink {
  write(text: string): void;
  /** Bytes written and not yet taken by the connection. */
  buffered(): number;
  /** Drops the subscriber (its connection closes). */
  close(): void;
}

/** One worker's link, as the primary holds it (`connect`). */
export interface WorkerLink {
  /** The worker serves: it may be asked for its snapshot. */
  serving(): void;
  receive(message: unknown): void;
  exited(): void;
}

export interface LiveHubOptions {
  logger: Logger;
  clock?: Clock;
  /** Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Default 2 s: how long a snapshot, or an answer to an end-session call, is waited for. */
  syncTimeoutMs?: number;
}

interface Worker {
  index: number;
  send(message: PrimaryMessage): void;
  serving: boolean;
  /** The generation of the last snapshot it sent. */
  synced: number;
  sessions: Map<string, LiveSession>;
}

interface EndCall {
  waiting: Set<Worker>;
  ended: number;
  done(ended: number): void;
  timer: unknown;
}

export class LiveHub {
  private readonly clock: Clock;
  private readonly workers = new Set<Worker>();
  private readonly sinks = new Set<LiveSink>();
  /** Subscribers still waiting for their snapshot: counted, not yet written to. */
  private readonly waitingSinks = new Set<LiveSink>();
  private generation = 0;
  /** While a generation's snapshots are awaited: resolves once they are in. */
  private syncing?: { waiting: Set<Worker>; done: () => void; promise: Promise<void>; timer: unknown };
  private readonly calls = new Map<number, EndCall>();
  private nextCall = 0;

  constructor(private readonly options: LiveHubOptions) {
    this.clock = options.clock ?? realClock;
  }

  /** A forked worker: `send` reaches it over IPC. */
  connect(index: number, send: (message: PrimaryMessage) => void): WorkerLink {
    const worker: Worker = { index, send, serving: false, synced: -1, sessions: new Map() };
    this.workers.add(worker);
    return {
      serving: () => {
        worker.serving = true;
        if (this.subscriberCount() > 0) worker.send(this.subscribers());
      },
      receive: (message) => {
        if (isWorkerMessage(message)) this.receive(worker, message);
      },
      exited: () => this.exited(worker),
    };
  }

  /**
   * The sessions in progress, across workers: a session several workers record (one kubectl invocation
   * whose connections reached each) once, as the worker that started it first saw it, with every worker's streams.
   */
  snapshot(): LiveSession[] {
    const sessions = new Map<string, LiveSession>();
    const chains = [...this.workers].flatMap((worker) => [...worker.sessions.values()]).sort((a, b) => a.started.localeCompare(b.started));
    for (const chain of chains) {
      const first = sessions.get(chain.session);
      if (first) first.streams = [...first.streams, ...chain.streams];
      else sessions.set(chain.session, { ...chain });
    }
    return [...sessions.values()];
  }

  /** Adds a subscriber: once the snapshot is current it gets the `snapshot` event, then every event. Returns its unsubscribe. */
  async subscribe(sink: LiveSink): Promise<() => void> {
    const unsubscribe = () => {
      const removed = this.sinks.delete(sink) || this.waitingSinks.delete(sink);
      if (!removed || this.subscriberCount() > 0) return;
      this.syncing?.done(); // the next subscriber starts a new generation
      this.broadcast(this.subscribers());
    };
    if (this.subscriberCount() === 0 && !this.syncing) this.startGeneration();
    this.waitingSinks.add(sink);
    await this.syncing?.promise;
    if (!this.waitingSinks.delete(sink)) return unsubscribe;
    // nothing runs between here and the next await: no event comes before the snapshot
    this.sinks.add(sink);
    sink.write(sseJson('snapshot', { sessions: this.snapshot() }));
    return unsubscribe;
  }

  subscriberCount(): number {
    return this.sinks.size + this.waitingSinks.size;
  }

  /** Ends session `session` in every serving worker; how many requests and streams ended. */
  endSession(session: string, by: string): Promise<number> {
    const targets = [...this.workers].filter((worker) => worker.serving);
    if (targets.length === 0) return Promise.resolve(0);
    const call = this.nextCall++;
    return new Promise((resolve) => {
      const entry: EndCall = { waiting: new Set(targets), ended: 0, done: resolve, timer: undefined };
      entry.timer = this.clock.setTimeout(() => this.finishCall(call), this.options.syncTimeoutMs ?? 2000);
      this.calls.set(call, entry);
      for (const worker of targets) worker.send({ kind: 'kubegate-live-end-session', call, session, by });
    });
  }

  private subscribers(): PrimaryMessage {
    return { kind: 'kubegate-live-subscribers', count: this.subscriberCount(), generation: this.generation };
  }

  private broadcast(message: PrimaryMessage): void {
    for (const worker of this.workers) if (worker.serving) worker.send(message);
  }

  private startGeneration(): void {
    this.generation++;
    const waiting = new Set([...this.workers].filter((worker) => worker.serving));
    let done!: () => void;
    const promise = new Promise<void>((resolve) => (done = resolve));
    const syncing = { waiting, promise, timer: undefined as unknown, done: () => undefined as void };
    syncing.done = () => {
      this.clock.clearTimeout(syncing.timer);
      if (this.syncing === syncing) this.syncing = undefined;
      done();
    };
    syncing.timer = this.clock.setTimeout(() => {
      if (syncing.waiting.size > 0) this.options.logger.warn({ workers: [...syncing.waiting].map((worker) => worker.index) }, 'live feed: no snapshot from these workers; going on without');
      syncing.done();
    }, this.options.syncTimeoutMs ?? 2000);
    this.syncing = syncing;
    this.broadcast({ kind: 'kubegate-live-subscribers', count: 1, generation: this.generation });
    if (waiting.size === 0) syncing.done();
  }

  private receive(worker: Worker, message: WorkerMessage): void {
    switch (message.kind) {
      case 'kubegate-live-snapshot':
        if (message.generation !== this.generation || !Array.isArray(message.sessions)) return;
        worker.synced = message.generation;
        worker.sessions = new Map(message.sessions.map((session) => [session.session, session]));
        this.syncing?.waiting.delete(worker);
        if (this.syncing?.waiting.size === 0) this.syncing.done();
        return;
      case 'kubegate-live-event':
        // a listener that threw here would take the primary (and every worker) down: a malformed event is dropped
        if (worker.synced === this.generation && typeof message.event?.session === 'string') this.apply(worker, message.event);
        return;
      case 'kubegate-live-ended': {
        const call = this.calls.get(message.call);
        if (!call) return;
        call.ended += message.ended;
        call.waiting.delete(worker);
        if (call.waiting.size === 0) this.finishCall(message.call);
        return;
      }
    }
  }

  private finishCall(id: number): void {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    this.clock.clearTimeout(call.timer);
    call.done(call.ended);
  }

  /**
   * Updates the snapshot with `event`, then passes it on — a session's start only from the first worker
   * to record it, its end only from the last (the others' are a writer joining or leaving).
   */
  private apply(worker: Worker, event: LiveEvent): void {
    const session = worker.sessions.get(event.session);
    switch (event.type) {
      case 'session-start': {
        const joining = this.openElsewhere(event.session, worker);
        worker.sessions.set(event.session, { session: event.session, subject: event.subject, grant: event.grant, policy: event.policy, started: event.time, worker: event.worker, streams: [] });
        if (joining) return;
        break;
      }
      case 'session-end':
        worker.sessions.delete(event.session);
        if (this.openElsewhere(event.session, worker)) return;
        break;
      case 'stream-open':
        session?.streams.push({ stream: event.stream, kind: event.kind, pod: event.pod, namespace: event.namespace, ...(event.command ? { command: event.command } : {}) });
        break;
      case 'stream-close':
        if (session) session.streams = session.streams.filter((stream) => stream.stream !== event.stream);
        break;
      default:
        break;
    }
    this.publish(event);
  }

  /** Whether a worker other than `worker` records `session` (the dead ones are no longer in `workers`). */
  private openElsewhere(session: string, worker: Worker): boolean {
    return [...this.workers].some((other) => other !== worker && other.synced === this.generation && other.sessions.has(session));
  }

  private publish(event: LiveEvent): void {
    if (this.sinks.size === 0) return;
    const { type, ...data } = event;
    const text = sseJson(type, data);
    const limit = this.options.maxBufferedBytes ?? 1024 * 1024;
    for (const sink of [...this.sinks]) {
      if (sink.buffered() + text.length > limit) {
        this.options.logger.warn('live feed: a subscriber is not keeping up; dropping it');
        this.sinks.delete(sink);
        sink.close();
        continue;
      }
      sink.write(text);
    }
    if (this.subscriberCount() === 0) this.broadcast(this.subscribers());
  }

  /** A worker died: its sessions end for the subscribers, its pending answers count as none. */
  private exited(worker: Worker): void {
    this.workers.delete(worker);
    if (worker.synced === this.generation)
      for (const session of worker.sessions.keys()) {
        if (!this.openElsewhere(session, worker)) this.publish({ type: 'session-end', session, time: new Date(this.clock.now()).toISOString(), reason: 'gateway worker exited' });
      }
    worker.sessions.clear();
    if (this.syncing?.waiting.delete(worker) && this.syncing.waiting.size === 0) this.syncing.done();
    for (const [id, call] of this.calls) if (call.waiting.delete(worker) && call.waiting.size === 0) this.finishCall(id);
  }
}
