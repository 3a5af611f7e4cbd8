/**
 * Invariant 11 on a manual clock: what runs under a grant is ended on the first informer event that
 * shows the grant unusable (revoked, deleted, replaced, no longer Active) and at the instant its token or
 * grant expires, with the reason; never after it was let go, and never a request of another grant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { AccessGrant } from '../../src/api/index.js';
import type { CallerIdentity } from '../../src/gateway/auth.js';
import { GrantWatch, type GrantEnded } from '../../src/gateway/grant-watch.js';
import type { InformerEventHandler } from '../../src/runtime/informer.js';
import { ManualClock } from '../harness/manual-clock.js';
import { withoutUncaughtExceptions } from '../harness/uncaught.js';

const hour = 3600_000;

function grant(name: string, options: { uid?: string; expiresAt?: number; revoked?: boolean; phase?: 'Active' | 'Expired' | 'Revoked'; deleting?: boolean } = {}): AccessGrant {
  return {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'AccessGrant',
    metadata: { namespace: 'kubegate-system', name, uid: options.uid ?? `uid-${name}`, ...(options.deleting ? { deletionTimestamp: new Date(0) } : {}) },
    spec: { subject: { kind: 'User', name: 'deploy-bot' }, reason: 'test', access: [], policyRef: { name: 'prod' }, ...(options.revoked ? { revoked: true } : {}) },
    status: { phase: options.phase ?? 'Active', expiresAt: new Date(options.expiresAt ?? hour).toISOString() },
  } as AccessGrant;
}

function identity(name: string, expiresAt = hour, uid = `uid-${name}`): CallerIdentity {
  return {
    tokenId: `token-${name}`,
    grant: { namespace: 'kubegate-system', name, uid },
    subject: { kind: 'User', name: 'deploy-bot' },
    user: 'kubegate:user:deploy-bot',
    groups: [`kubegate:grant:kubegate-system:${name}`],
    expiresAt: new Date(expiresAt),
  };
}

/** A GrantWatch over an in-memory informer: `update` and `remove` change the store and deliver the event. */
function watchOver(initial: AccessGrant[], clock = new ManualClock()) {
  const store = new Map(initial.map((g) => [g.metadata!.name!, g]));
  const handlers: InformerEventHandler<AccessGrant>[] = [];
  const watch = new GrantWatch({ grants: { get: (_namespace, name) => store.get(name) }, events: { addEventHandler: (handler) => void handlers.push(handler) }, logger: pino({ enabled: false }), clock });
  const ended: Array<[string, GrantEnded]> = [];
  return {
    clock,
    ended,
    /** Watches one request, as `label`, recording its end. */
    open: (label: string, caller: CallerIdentity, session?: string) => watch.watch(caller, (why) => void ended.push([label, why]), session),
    watch,
    update(next: AccessGrant) {
      const old = store.get(next.metadata!.name!);
      store.set(next.metadata!.name!, next);
      for (const handler of handlers) old ? handler.onUpdate?.(next, old) : handler.onAdd?.(next);
    },
    remove(name: string) {
      const old = store.get(name)!;
      store.delete(name);
      for (const handler of handlers) handler.onDelete?.(old);
    },
  };
}

test('invariant 11: a revocation ends every request of that grant at once, with the reason, and no other', () => {
  const w = watchOver([grant('a'), grant('b')]);
  w.open('exec', identity('a'));
  w.open('watch', identity('a'));
  w.open('other', identity('b'));
  w.update(grant('a', { expiresAt: hour })); // an update that leaves it Active changes nothing
  assert.deepEqual(w.ended, []);
  w.update(grant('a', { revoked: true }));
  const revoked = { reason: 'grant revoked', message: 'grant kubegate-system/a was revoked' };
  assert.deepEqual(w.ended, [['exec', revoked], ['watch', revoked]]);
  w.update(grant('a', { revoked: true, phase: 'Revoked' }));
  assert.equal(w.ended.length, 2, 'each request is ended once');
  assert.equal(w.clock.pendingTimers(), 1, 'only the request of the other grant still waits for its expiry');
});

test('invariant 11: a deletion, a deletion in progress, or another grant under the same name ends the requests', () => {
  const w = watchOver([grant('gone'), grant('deleting'), grant('replaced')]);
  w.open('gone', identity('gone'));
  w.open('deleting', identity('deleting'));
  w.open('replaced', identity('replaced'));
  w.remove('gone');
  w.update(grant('deleting', { deleting: true }));
  w.update(grant('replaced', { uid: 'uid-new' }));
  assert.deepEqual(
    w.ended.map(([label, why]) => [label, why.reason]),
    [['gone', 'grant deleted'], ['deleting', 'grant deleted'], ['replaced', 'grant deleted']],
  );
});

test('invariant 11: a request ends at the instant its token expires, and when the operator marks the grant Expired first', () => {
  const w = watchOver([grant('a', { expiresAt: 10_000 }), grant('b', { expiresAt: 60_000 })]);
  w.open('exec', identity('a', 10_000));
  w.open('early', identity('b', 60_000));
  w.clock.advance(9_999);
  assert.deepEqual(w.ended, [], 'not a millisecond early');
  w.clock.advance(1);
  assert.deepEqual(w.ended, [['exec', { reason: 'grant expired', message: 'grant kubegate-system/a is Expired' }]]);
  w.update(grant('b', { expiresAt: 60_000, phase: 'Expired' }));
  assert.deepEqual(w.ended.at(-1), ['early', { reason: 'grant expired', message: 'grant kubegate-system/b is Expired' }]);
  assert.equal(w.clock.pendingTimers(), 0);
});

test('invariant 11: an expiry moved earlier by an event moves the timer; the token expiry bounds it', () => {
  const w = watchOver([grant('a', { expiresAt: hour })]);
  w.open('token', identity('a', 30_000));
  w.open('grant', identity('a', hour));
  w.update(grant('a', { expiresAt: 20_000 }));
  w.clock.advance(20_000);
  assert.deepEqual(w.ended.map(([label]) => label), ['token', 'grant'], 'both end at the grant expiry, the earlier');
  const later = watchOver([grant('b', { expiresAt: hour })]);
  later.open('token', identity('b', 30_000));
  later.update(grant('b', { expiresAt: 2 * hour }));
  later.clock.advance(30_000);
  assert.deepEqual(later.ended.map(([label, why]) => [label, why.reason]), [['token', 'grant expired']], 'a later grant expiry does not outlast the token');
});

/** A manual clock that remembers every wait it was asked for. */
class WaitRecordingClock extends ManualClock {
  readonly waits: number[] = [];

  override setTimeout(callback: () => void, ms: number): unknown {
    this.waits.push(ms);
    return super.setTimeout(callback, ms);
  }
}

test('invariant 11: an expiry beyond what one Node timer holds (24.8 days) is waited for in steps, and ends on time', () => {
  const expiresAt = 40 * 24 * hour;
  const clock = new WaitRecordingClock();
  const w = watchOver([grant('a', { expiresAt })], clock);
  w.open('exec', identity('a', expiresAt));
  w.clock.advance(expiresAt - 1);
  assert.deepEqual(w.ended, []);
  w.clock.advance(1);
  assert.equal(w.ended.length, 1);
  // Node fires a longer timeout after 1 ms
  assert.ok(clock.waits.every((ms) => ms <= 2 ** 31 - 1), `waits: ${clock.waits.join(', ')}`);
});

test('invariant 11: a request whose grant is already unusable is ended before watch returns; a released one never is', () => {
  const w = watchOver([grant('a', { revoked: true }), grant('b', { expiresAt: 10_000 })]);
  const release = w.open('late', identity('a'));
  assert.deepEqual(w.ended.map(([label, why]) => [label, why.reason]), [['late', 'grant revoked']]);
  release(); // harmless after the end
  const releaseDone = w.open('done', identity('b', 10_000));
  releaseDone();
  w.clock.advance(10_000);
  w.update(grant('b', { revoked: true }));
  assert.equal(w.ended.length, 1, 'a request that ended of itself is not ended again');
  assert.equal(w.clock.pendingTimers(), 0);
});

test('a request that fails to end does not keep the other requests of its grant running', () => {
  const clock = new ManualClock();
  const handlers: InformerEventHandler<AccessGrant>[] = [];
  let current = grant('a');
  const watch = new GrantWatch({ grants: { get: () => current }, events: { addEventHandler: (handler) => void handlers.push(handler) }, logger: pino({ enabled: false }), clock });
  const ended: string[] = [];
  watch.watch(identity('a'), () => {
    throw new Error('socket already gone');
  });
  watch.watch(identity('a'), (why) => void ended.push(why.reason));
  current = grant('a', { revoked: true });
  for (const handler of handlers) handler.onUpdate?.(current, grant('a'));
  assert.deepEqual(ended, ['grant revoked']);
});

test('a check that throws ends the request it checks with the reason, and not the others or the process', async () => {
  await withoutUncaughtExceptions(async () => {
    const w = watchOver([grant('deploy-bot'), grant('other-bot')]);
    w.open('exec', identity('deploy-bot'));
    w.open('watch', identity('other-bot'));
    const broken = grant('deploy-bot');
    Object.defineProperty(broken, 'status', {
      get: () => {
        throw new TypeError('a bug reading the grant');
      },
    });
    w.update(broken);
    assert.deepEqual(w.ended, [['exec', { reason: 'internal error: TypeError: a bug reading the grant', message: 'grant kubegate-system/deploy-bot could not be checked' }]]);
    w.update(grant('other-bot', { revoked: true }));
    assert.deepEqual(
      w.ended.map(([label, why]) => [label, why.reason]),
      [
        ['exec', 'internal error: TypeError: a bug reading the grant'],
        ['watch', 'grant revoked'],
      ],
    );
  });
});

test('ending a session ends exactly its running requests, once, with the reason given', () => {
  const w = watchOver([grant('a')]);
  w.open('exec', identity('a'), 'session-1');
  w.open('get', identity('a'), 'session-1');
  w.open('other', identity('a'), 'session-2');
  const ended = { reason: 'ended by alice', message: 'ended by alice', code: 'KG_SESSION_ENDED' as const };
  assert.equal(w.watch.endSession('session-1', ended), 2);
  assert.deepEqual(w.ended, [['exec', ended], ['get', ended]]);
  assert.equal(w.watch.endSession('session-1', ended), 0, 'ended requests are no longer watched');
  w.update(grant('a', { revoked: true }));
  assert.deepEqual(w.ended.map(([label]) => label), ['exec', 'get', 'other'], 'the other session ends only with its grant');
});
