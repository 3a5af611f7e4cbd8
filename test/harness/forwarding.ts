/**
 * What the gateway's forwarding (http-proxy.ts, upgrade-proxy.ts) runs in, for unit tests: an admitted
 * request of one caller in its session, what its recording got, its grant behind a GrantWatch on a
 * manual clock (`revoke` delivers the informer event), loopback servers closed after the test, and a
 * stand-in API server as the upstream.
 */
import type { TestContext } from 'node:test';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { pino } from 'pino';
import type { AccessGrant } from '../../src/api/index.js';
import type { Admitted } from '../../src/gateway/admit.js';
import type { CallerIdentity } from '../../src/gateway/auth.js';
import { GrantWatch } from '../../src/gateway/grant-watch.js';
import { PolicyEngine } from '../../src/gateway/policy-engine.js';
import { parseRequestAttributes } from '../../src/gateway/request-attributes.js';
import { SessionTable } from '../../src/gateway/sessions.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { RecordEvent, Recorder } from '../../src/recording/recorder.js';
import type { InformerEventHandler } from '../../src/runtime/informer.js';
import { ManualClock } from './manual-clock.js';

export const caller: CallerIdentity = {
  tokenId: 'token-1',
  grant: { namespace: 'kubegate-system', name: 'deploy-bot', uid: 'uid-1' },
  subject: { kind: 'User', name: 'deploy-bot' },
  user: 'kubegate:user:deploy-bot',
  groups: ['kubegate:grant:kubegate-system:deploy-bot'],
  expiresAt: new Date(3600_000),
};

const activeGrant = {
  metadata: { namespace: 'kubegate-system', name: 'deploy-bot', uid: 'uid-1' },
  spec: { subject: caller.subject, policyRef: { name: 'prod' } },
  status: { phase: 'Active', expiresAt: new Date(3600_000).toISOString() },
} as AccessGrant;

/** Listens on a free loopback port, closed when the test ends. */
export async function listening(t: TestContext, server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => void server.close());
  return (server.address() as AddressInfo).port;
}

/** The API server as a plain-HTTP stand-in on `port` (each request on a connection of its own). */
export function upstreamAt(port: number): Upstream {
  return { refused: () => undefined, request: async (method, target, headers) => httpRequest({ host: '127.0.0.1', port, method, path: target, headers, agent: false }) };
}

/** One admitted request of `caller` for `method path`, under a policy with no rules, and what surrounds it. */
export function admittedRequest(method: string, path: string, headers: IncomingMessage['headers'] = {}) {
  const clock = new ManualClock();
  const events: RecordEvent[] = [];
  const waiters: Array<() => void> = [];
  const record = async (event: RecordEvent) => {
    events.push(event);
    for (const wake of waiters.splice(0)) wake();
  };
  const recorder: Recorder = { healthy: () => true, open: () => ({ record, close: async () => undefined }) };
  const sessions = new SessionTable({ recorder, policy: () => ({ namespace: 'kubegate-system', name: 'prod', version: 'v1' }), clock });
  let grant = activeGrant;
  const handlers: InformerEventHandler<AccessGrant>[] = [];
  const grants = new GrantWatch({ grants: { get: () => grant }, events: { addEventHandler: (handler) => void handlers.push(handler) }, logger: pino({ enabled: false }), clock });
  const request = { method, url: path, headers: { 'kubectl-session': 's1', ...headers }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  const session = sessions.enter(request, caller);
  const compiled = compilePolicy({ namespace: 'kubegate-system', name: 'prod' }, {});
  const state = { policyRef: { namespace: 'kubegate-system', name: 'prod' }, loaded: { compiled, jwks: { keys: [] }, fingerprint: 'f' }, engine: PolicyEngine.load(compiled) };
  const attributes = parseRequestAttributes(method, path);
  const admitted: Admitted = { requestId: 'r1', identity: caller, session, attributes, decision: state.engine.decide(attributes, { user: caller.user }), state, masking: state.engine.masking };
  return {
    admitted,
    request,
    sessions,
    grants,
    session,
    /** The reasons of the `stream-close` records so far. */
    closeReasons: () => events.flatMap((event) => (event.type === 'stream-close' ? [event.reason] : [])),
    events,
    /** Resolves once `count` events are recorded. */
    async recorded(count: number): Promise<RecordEvent[]> {
      while (events.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return events;
    },
    revoke() {
      grant = { ...activeGrant, spec: { ...activeGrant.spec, revoked: true } };
      for (const handler of handlers) handler.onUpdate?.(grant, activeGrant);
    },
  };
}
