/**
 * Invariant 11: what runs under a grant ends within 2 s of the grant leaving Active. The API server
 * authorizes a request once, as it starts: an exec, attach or port-forward stream, a watch, `logs -f` —
 * any request still being answered — would go on under a grant revoked since. So the gateway watches
 * each forwarded request until it ends, and ends it on the first informer event of its grant that shows
 * the grant no longer usable (revoked, deleted or replaced under the same name, no longer Active:
 * `grantStanding`, the rule that admits requests), and at the instant its token or grant expires (a timer
 * on the injected clock, moved when an event moves the grant's expiry). A check that throws ends the
 * request it checks (fail closed, `internal error: …`), never the informer or the process (guarded.ts).
 * The same hold on every running request ends a session's requests on demand (`endSession`: the live
 * events endpoint's DELETE, live/hub.ts).
 */
import type { Logger } from 'pino';
import type { AccessGrant } from '../api/index.js';
import type { EventSource } from '../runtime/informer.js';
import { realClock, type Clock } from '../runtime/reconciler.js';
import { grantStanding, type CallerIdentity, type GrantLookup } from './auth.js';
import type { GatewayErrorCode } from './errors.js';
import { guarded, internalErrorReason } from './guarded.js';

/** Why a request was ended under it. */
export interface GrantEnded {
  /** What the recording says: `grant revoked`, `grant deleted`, `grant expired` or `grant inactive`. */
  reason: string;
  /** What the client is told: which grant, and what became of it. */
  message: string;
  /** The refusal the client gets (default `KG_GRANT_INACTIVE`). */
  code?: GatewayErrorCode;
}

export interface GrantWatchOptions {
  grants: Pick<GrantLookup, 'get'>;
  /** The informer behind `grants`: each of its events re-checks the requests under that grant. */
  events: EventSource<AccessGrant>;
  logger: Logger;
  /** Default: real time. */
  clock?: Clock;
}

interface Watched {
  grant: CallerIdentity['grant'];
  /** The gateway session the request runs in. */
  session?: string;
  /** When the token expires (never after the grant did when it was admitted). */
  tokenExpiresAt: number;
  end(ended: GrantEnded): void;
  timer?: unknown;
}

/** Node's timers hold at most 2^31-1 ms (24.8 days); a longer wait is taken in steps. */
const maxTimerMs = 2 ** 31 - 1;

export class GrantWatch {
  /** Per grant (`namespace/name`), the requests running under it. */
  private readonly watched = new Map<string, Set<Watched>>();
  private readonly clock: Clock;

  constructor(private readonly options: GrantWatchOptions) {
    this.clock = options.clock ?? realClock;
    const recheck = guarded(
      (error) => this.options.logger.error({ err: error }, 'a grant event could not be handled: a bug in the gateway'),
      (grant: AccessGrant) => this.recheck(`${grant.metadata?.namespace}/${grant.metadata?.name}`),
    );
    options.events.addEventHandler({ onAdd: recheck, onUpdate: recheck, onDelete: recheck });
  }

  /**
   * Watches one request of `identity` until the returned function is called (when the request ends):
   * `end` is called once, when its grant can no longer be used — at once, before this returns, if that
   * is already so, or by `endSession` of its `session`.
   */
  watch(identity: CallerIdentity, end: (ended: GrantEnded) => void, session?: string): () => void {
    const key = `${identity.grant.namespace}/${identity.grant.name}`;
    const entry: Watched = { grant: identity.grant, session, tokenExpiresAt: identity.expiresAt.getTime(), end };
    let entries = this.watched.get(key);
    if (!entries) this.watched.set(key, (entries = new Set()));
    entries.add(entry);
    this.check(key, entry);
    return () => this.forget(key, entry);
  }

  /** Ends every running request of gateway session `session`; how many there were. */
  endSession(session: string, ended: GrantEnded): number {
    let count = 0;
    for (const [key, entries] of [...this.watched])
      for (const entry of [...entries])
        if (entry.session === session) {
          count++;
          this.finish(key, entry, ended);
        }
    return count;
  }

  private recheck(key: string): void {
    for (const entry of [...(this.watched.get(key) ?? [])]) this.guard(key, entry, () => this.check(key, entry))();
  }

  /** `fn` inside the error boundary of one watched request: an exception ends that request, as if its grant had. */
  private guard<A extends unknown[]>(key: string, entry: Watched, fn: (...args: A) => void): (...args: A) => void {
    return guarded((error) => {
      this.options.logger.error({ err: error, grant: key }, 'checking a grant failed: a bug in the gateway; ending the request under it');
      this.finish(key, entry, { reason: internalErrorReason(error), message: `grant ${key} could not be checked` });
    }, fn);
  }

  /** Ends `entry` if its grant can no longer be used; otherwise (re)arms its expiry timer. */
  private check(key: string, entry: Watched): void {
    const { namespace, name } = entry.grant;
    const standing = grantStanding(this.options.grants.get(namespace, name), entry.grant, this.clock.now());
    if (standing.active) this.arm(key, entry, Math.min(entry.tokenExpiresAt, standing.expiresAt));
    else this.finish(key, entry, { reason: `grant ${standing.end}`, message: standing.message });
  }

  private arm(key: string, entry: Watched, deadline: number): void {
    this.clock.clearTimeout(entry.timer);
    entry.timer = this.clock.setTimeout(
      this.guard(key, entry, () => {
        if (this.clock.now() < deadline) this.arm(key, entry, deadline);
        else this.finish(key, entry, { reason: 'grant expired', message: `grant ${entry.grant.namespace}/${entry.grant.name} is Expired` });
      }),
      Math.min(Math.max(0, deadline - this.clock.now()), maxTimerMs),
    );
  }

  private finish(key: string, entry: Watched, ended: GrantEnded): void {
    this.forget(key, entry);
    try {
      entry.end(ended);
    } catch (error) {
      // one request that fails to end must not keep the others of the grant running
      this.options.logger.error({ err: error, grant: key }, 'ending a request under an ended grant failed');
    }
  }

  private forget(key: string, entry: Watched): void {
    this.clock.clearTimeout(entry.timer);
    const entries = this.watched.get(key);
    entries?.delete(entry);
    if (entries?.size === 0) this.watched.delete(key);
  }
}
