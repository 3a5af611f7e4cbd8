/**
 * A live page's feed runs as long as the page stays open, so the console judges its viewer again every
 * `liveRecheckMs` (on a manual clock here): signing out, the session's 12 hours running out, or losing
 * the right to watch sessions ends the feed; a namespace no longer allowed is left out from then on.
 * The API server's answers and the gateways are stand-ins: what is tested is the console's own rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { ViewerSessions, type Viewer } from '../../src/console/auth.js';
import type { ApiCall, ConsoleServices } from '../../src/console/context.js';
import { liveEvents, liveRecheckMs } from '../../src/console/live-api.js';
import { ManualClock } from '../harness/manual-clock.js';

const viewer: Viewer = { user: 'alice', groups: ['auditors'] };

/** The feed's world: which namespaces the viewer may watch in (changed by the test), and what the relay was handed. */
function world(clock: ManualClock) {
  const allowed = new Set(['payments', 'shop']);
  const relay: { visible?: (namespace: string) => boolean } = {};
  const services = {
    clock,
    now: () => clock.now(),
    reviews: { check: async (_viewer: Viewer, attributes: { namespace?: string }) => ({ allowed: attributes.namespace !== undefined && allowed.has(attributes.namespace) }) },
    index: { policyNamespaces: () => ['payments', 'shop'], find: () => undefined },
    policies: async () => [],
    gateways: { relay: async (_response: ServerResponse, visible: (namespace: string) => boolean) => void (relay.visible = visible) },
  } as unknown as ConsoleServices;
  return { allowed, relay, services };
}

function liveCall(sessions: ViewerSessions): { call: ApiCall; ended: () => boolean } {
  const session = sessions.open(viewer);
  const response = Object.assign(new EventEmitter(), { ended: false });
  const end = () => {
    response.ended = true;
    response.emit('close');
  };
  Object.assign(response, { end });
  return { call: { session, viewer, response } as unknown as ApiCall, ended: () => response.ended };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a live feed ends once its viewer signs out', async () => {
  const clock = new ManualClock();
  const sessions = new ViewerSessions(clock);
  const { services } = world(clock);
  const { call, ended } = liveCall(sessions);
  await liveEvents(services, call);
  await clock.advanceSettling(3 * liveRecheckMs, settle);
  assert.equal(ended(), false, 'a signed-in viewer keeps the feed');
  sessions.close(call.session.id);
  await clock.advanceSettling(liveRecheckMs, settle);
  assert.equal(ended(), true);
  assert.equal(clock.pendingTimers(), 0, 'nothing is judged after it ended');
});

test('a live feed ends when the session runs out, and leaves out a namespace no longer allowed; losing every one ends it', async () => {
  const clock = new ManualClock();
  const { allowed, relay, services } = world(clock);
  const { call, ended } = liveCall(new ViewerSessions(clock));
  await liveEvents(services, call);
  assert.equal(relay.visible!('shop'), true);
  allowed.delete('shop');
  await clock.advanceSettling(liveRecheckMs, settle);
  assert.deepEqual([relay.visible!('payments'), relay.visible!('shop'), ended()], [true, false, false]);
  allowed.clear();
  await clock.advanceSettling(liveRecheckMs, settle);
  assert.equal(ended(), true, 'no namespace left to watch');

  const later = liveCall(new ViewerSessions(clock));
  allowed.add('payments');
  await liveEvents(services, later.call);
  await clock.advanceSettling(later.call.session.expires - clock.now(), settle);
  assert.equal(later.ended(), true, 'past the session\'s 12 hours');
});
