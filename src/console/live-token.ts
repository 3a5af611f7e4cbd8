/**
 * The token the console shows the gateways' live events endpoints: never its own credential (which
 * impersonates anyone), but a short-lived token of its own ServiceAccount bound to the audience
 * `kubegate-live-events` (TokenRequest). The API server accepts no token of that audience for itself,
 * so a gateway that keeps one can do nothing with it there; the gateway's TokenReview asks for it.
 */
import { liveEventsAudience } from '../api/names.js';
import type { KubeCall } from './kube-api.js';

const lifetimeSeconds = 600;
/** A token is asked for again once this share of its life has passed. */
const refreshShare = 0.8;

export type ConsoleCall = <T>(call: KubeCall) => Promise<T>;

/** `system:serviceaccount:NS:NAME` as its namespace and name; undefined for any other user. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return match ? { namespace: match[1]!, name: match[2]! } : undefined;
}

export class LiveEventsTokens {
  private account: Promise<{ namespace: string; name: string }> | undefined;
  private cached: Promise<{ token: string; refreshAt: number }> | undefined;
  private refreshAt = 0;

  constructor(
    private readonly call: ConsoleCall,
    private readonly now: () => number,
  ) {}

  /** The console's own ServiceAccount, as the API server names its credential (SelfSubjectReview). */
  private ownAccount(): Promise<{ namespace: string; name: string }> {
    this.account ??= this.call<{ status?: { userInfo?: { username?: string } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    }).then((review) => {
      const username = review.status?.userInfo?.username ?? '(unknown)';
      const account = serviceAccountOf(username);
      if (!account) throw new Error(`the console cannot follow gateways: its credential (${username}) is not a ServiceAccount, and it shows gateways only a ServiceAccount token bound to the audience ${liveEventsAudience}`);
      return account;
    });
    this.account.catch(() => (this.account = undefined)); // asked again next time
    return this.account;
  }

  /** A token of the audience `kubegate-live-events`, the cached one until 80% of its life has passed. */
  token(): Promise<string> {
    if (!this.cached || this.now() >= this.refreshAt) {
      const asked = this.request(this.now());
      this.cached = asked;
      this.refreshAt = Number.POSITIVE_INFINITY; // callers share the request while it is under way
      asked.then(
        (issued) => {
          if (this.cached === asked) this.refreshAt = issued.refreshAt;
        },
        () => {
          if (this.cached === asked) this.cached = undefined; // asked again next time
        },
      );
    }
    return this.cached.then((issued) => issued.token);
  }

  private async request(asked: number): Promise<{ token: string; refreshAt: number }> {
    const { namespace, name } = await this.ownAccount();
    const answer = await this.call<{ status?: { token?: string; expirationTimestamp?: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [liveEventsAudience], expirationSeconds: lifetimeSeconds } },
    });
    if (!answer.status?.token) throw new Error(`the API server issued no token for ServiceAccount ${namespace}/${name}`);
    // the API server may shorten the life it was asked for: count from what it says
    const expires = Date.parse(answer.status.expirationTimestamp ?? '');
    const lifetimeMs = Number.isFinite(expires) ? expires - asked : lifetimeSeconds * 1000;
    return { token: answer.status.token, refreshAt: asked + lifetimeMs * refreshShare };
  }
}
