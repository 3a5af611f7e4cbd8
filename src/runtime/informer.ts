/**
 * An informer: a local, always-current copy of one kind of object, after client-go's reflector and
 * shared informer. It lists the objects once, then watches from the list's resourceVersion, keeping an
 * in-memory store keyed `namespace/name` and telling its handlers about every add, update and delete.
 *
 * Retry rules (it never stops on its own; only `stop()` ends it):
 * - The watch ends normally (the server's `timeoutSeconds`, or the client library's inactivity timeout):
 *   watch again from the last resourceVersion seen. Bookmarks keep that version fresh on quiet resources.
 * - The list fails, the watch fails, the connection breaks, or an ERROR event arrives (410 Gone: the
 *   resourceVersion is too old): list again, after an exponential backoff (`informerDefaults.backoff`,
 *   as client-go's reflector) that resets once a watch delivers an event. A relist diffs against the store, so handlers see adds for new
 *   objects, updates for changed ones and deletes for the ones that went away while nobody watched.
 * - Every `resyncMs` (off by default) every stored object is delivered again as an update, so controllers
 *   re-check state they may have missed outside the API (level-based reconciliation).
 *
 * Objects are the API server's JSON, unconverted: timestamps are strings, as in watch events; a
 * `transform` (client-go's TransformFunc) cuts each one down to what its readers use before it is stored.
 */
import type { KubernetesObject, V1Status } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { keyString, realClock, type Clock, sleep } from './reconciler.js';

export interface InformerEventHandler<T> {
  /**
   * `isInInitialList` (as client-go's): the object was in the informer's first list, or in its store when
   * the handler registered; not news, so a controller may queue it behind changes.
   */
  onAdd?(object: T, isInInitialList?: boolean): void;
  /** Also called by resync, with `object === old`. */
  onUpdate?(object: T, old: T): void;
  /** Gets the last state of the object. */
  onDelete?(object: T): void;
}

/** What a controller watches: an informer, or a fake in tests. */
export interface EventSource<T> {
  addEventHandler(handler: InformerEventHandler<T>): void;
}

/** A complete list: the objects and the resourceVersion to watch from. */
export interface ObjectList<T> {
  items: T[];
  resourceVersion: string;
}

/**
 * How an informer reaches the API server: kube/raw-client.ts's `RawKubeClient` (over client-node's
 * `KubeConfig` in the operator, over the gateway's own kubeconfig in the gateway).
 */
export interface ListWatchClient {
  list<T extends KubernetesObject>(path: string, options: { labelSelector?: string; pageSize?: number; signal?: AbortSignal }): Promise<ObjectList<T>>;
  /** `onEnd` once: nothing when the server ended the watch, the error otherwise (a TimeoutError when it went quiet). */
  watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (type: string, object: never) => void, onEnd: (error?: unknown) => void): Promise<AbortController>;
}

export type ListFunction<T> = (signal: AbortSignal) => Promise<ObjectList<T>>;

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export const informerDefaults = {
  /** client-go's reflector backoff. */
  backoff: { initialMs: 800, maxMs: 30_000 },
  /** Objects per list page. */
  pageSize: 500,
  /**
   * The server closes each watch after this long. Below the client library's 30 s inactivity timeout, so a
   * quiet watch ends cleanly, with the bookmark the server sends just before, instead of being cut.
   */
  watchTimeoutSeconds: 25,
  /** A watch that ends cleanly this fast without an event counts as a failure, so it cannot spin. */
  shortWatchMs: 1000,
} as const;

export interface InformerOptions<T> {
  client: ListWatchClient;
  /** The collection's API path: `/api/v1/namespaces/ns/configmaps`, `/apis/kubegate.dev/v1alpha1/accessgrants`. */
  path: string;
  labelSelector?: string;
  /** Re-deliver every object as an update this often; 0 or unset: never. */
  resyncMs?: number;
  /**
   * What the store keeps of each listed or watched object (default: all of it). At thousands of objects
   * the fields nobody reads (managedFields above all) are most of the memory an informer holds.
   */
  transform?: (object: T) => T;
  /** How to list, returning objects as the store keeps them; default: GET `path` page by page with the client, through `transform`. */
  listFn?: ListFunction<T>;
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
}

export class Informer<T extends KubernetesObject = KubernetesObject> implements EventSource<T> {
  readonly path: string;
  private readonly options: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listFn: ListFunction<T>;
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerEventHandler<T>[] = [];
  private readonly stopping = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private consecutiveFailures = 0;
  private running: Promise<void> | undefined;
  private activeWatch: AbortController | undefined;
  private resyncTimer: unknown;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.path = options.path;
    this.clock = options.clock ?? realClock;
    this.logger = (options.logger ?? pino({ enabled: false })).child({ informer: options.path });
    this.listFn =
      options.listFn ?? ((signal) => options.client.list<T>(options.path, { labelSelector: options.labelSelector, pageSize: informerDefaults.pageSize, signal, ...(options.transform ? { transform: options.transform } : {}) }));
  }

  /** Registers `handler`; it first gets an add for every object already in the store, like client-go. */
  addEventHandler(handler: InformerEventHandler<T>): void {
    this.handlers.push(handler);
    for (const object of this.store.values()) this.deliver(handler, 'onAdd', object, true);
  }

  /** Starts listing and watching in the background. An informer runs once: after `stop` it stays stopped. */
  start(): void {
    if (this.running || this.stopping.signal.aborted) return;
    this.running = this.run();
    this.scheduleResync();
  }

  /** Stops watching; resolves once the list-watch loop has ended. The store keeps its last state. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.activeWatch?.abort();
    this.clock.clearTimeout(this.resyncTimer);
    await this.running;
  }

  /** True once the first list has filled the store. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the store is filled; rejects when `signal` aborts first. */
  waitForSync(signal: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** The stored object with key `namespace/name` (or `name`). */
  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    let relist = true;
    while (!signal.aborted) {
      try {
        if (relist) await this.listAndReplace(signal);
        relist = false;
        await this.watchOnce(signal);
      } catch (error) {
        if (signal.aborted) break;
        relist = true;
        this.consecutiveFailures += 1;
        const backoff = { ...informerDefaults.backoff, ...this.options.backoff };
        const delayMs = Math.min(backoff.initialMs * 2 ** (this.consecutiveFailures - 1), backoff.maxMs);
        this.logger.warn({ err: error, retryInMs: delayMs }, 'list or watch failed; listing again after a backoff');
        await sleep(this.clock, delayMs, signal);
      }
    }
  }

  /** Lists, replaces the store and tells the handlers what differs from what they were told before. */
  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const list = await this.listFn(signal);
    if (signal.aborted) return;
    const listed = new Map(list.items.map((object) => [storeKey(object), object]));
    for (const [key, old] of this.store) {
      if (listed.has(key)) continue;
      this.store.delete(key);
      this.emit('onDelete', old);
    }
    for (const [key, object] of listed) {
      const old = this.store.get(key);
      this.store.set(key, object);
      if (!old) this.emit('onAdd', object, !this.synced);
      else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.emit('onUpdate', object, old);
    }
    this.resourceVersion = list.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const wake of this.syncWaiters.splice(0)) wake();
    }
  }

  /** One watch from `resourceVersion`: resolves when it ends normally, rejects when it fails. */
  private watchOnce(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const startedAt = this.clock.now();
      let events = 0;
      let settled = false;
      const onStop = () => finish(signal.reason);
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onStop);
        this.activeWatch?.abort();
        this.activeWatch = undefined;
        if (error) reject(error);
        else resolve();
      };
      signal.addEventListener('abort', onStop, { once: true });
      const query = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: informerDefaults.watchTimeoutSeconds,
        labelSelector: this.options.labelSelector,
      };
      const onEvent = (type: string, object: T) => {
        if (settled) return;
        try {
          this.applyWatchEvent(type, object);
          events += 1;
          this.consecutiveFailures = 0;
        } catch (error) {
          finish(error);
        }
      };
      const onEnd = (error: unknown) => {
        // the client library cuts a watch that sent nothing for 30 s: a normal end, not a failure
        if (error && !(error instanceof Error && error.name === 'TimeoutError')) finish(error);
        else if (events === 0 && this.clock.now() - startedAt < informerDefaults.shortWatchMs) {
          finish(new Error('the watch ended at once without an event'));
        } else finish();
      };
      this.options.client.watch(this.path, query, onEvent, onEnd).then((controller) => {
        // the controller arrives only once the response headers have; the watch may be over by then
        if (settled) controller.abort();
        else this.activeWatch = controller;
      }, finish);
    });
  }

  private applyWatchEvent(type: string, object: T): void {
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        object = this.transform(object);
        const key = storeKey(object);
        const old = this.store.get(key);
        this.store.set(key, object);
        if (old) this.emit('onUpdate', object, old);
        else this.emit('onAdd', object, false);
        break;
      }
      case 'DELETED':
        object = this.transform(object);
        this.store.delete(storeKey(object));
        this.emit('onDelete', object);
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        throw new WatchErrorEvent(object as V1Status);
      default:
        throw new Error(`unknown watch event type ${type}`);
    }
    this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
  }

  private transform(object: T): T {
    return this.options.transform ? this.options.transform(object) : object;
  }

  private scheduleResync(): void {
    const resyncMs = this.options.resyncMs ?? 0;
    if (resyncMs <= 0 || this.stopping.signal.aborted) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      for (const object of this.store.values()) this.emit('onUpdate', object, object);
      this.scheduleResync();
    }, resyncMs);
  }

  private emit(event: 'onAdd', object: T, isInInitialList: boolean): void;
  private emit(event: 'onDelete', object: T): void;
  private emit(event: 'onUpdate', object: T, old: T): void;
  private emit(event: keyof InformerEventHandler<T>, object: T, extra?: T | boolean): void {
    for (const handler of this.handlers) this.deliver(handler, event, object, extra);
  }

  /** A handler that throws must not break the informer or the other handlers. `extra`: onAdd's flag, onUpdate's old object. */
  private deliver(handler: InformerEventHandler<T>, event: keyof InformerEventHandler<T>, object: T, extra?: T | boolean): void {
    try {
      switch (event) {
        case 'onAdd':
          handler.onAdd?.(object, extra === true);
          break;
        case 'onUpdate':
          handler.onUpdate?.(object, typeof extra === 'object' ? extra : object);
          break;
        case 'onDelete':
          handler.onDelete?.(object);
          break;
      }
    } catch (error) {
      this.logger.error({ err: error, event, object: storeKey(object) }, 'event handler failed');
    }
  }
}

/** An ERROR watch event: the Status the API server sent, e.g. 410 Expired when resourceVersion is too old. */
class WatchErrorEvent extends Error {
  override name = 'WatchErrorEvent';
  readonly code: number | undefined;

  constructor(status: V1Status) {
    super(`watch error ${status.code ?? ''} ${status.reason ?? ''}: ${status.message ?? ''}`);
    this.code = status.code;
  }
}

function storeKey(object: KubernetesObject): string {
  return keyString({ namespace: object.metadata?.namespace, name: object.metadata?.name ?? '' });
}
