/**
 * The console's in-memory session index: filled once, then refreshed by listing keys only — a new key
 * or a session still open is read, an ended one never again; late uploads to older days and deleted
 * objects are caught by the full listing. Pages follow a total order and a cursor never repeats or skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { IndexBuilder } from '../../src/recording/session-index.js';
import { openStore } from '../../src/recording/open-store.js';
import type { RecordingStore } from '../../src/recording/store.js';
import { decodeCursor, SessionIndexCache, type IndexedSession } from '../../src/console/session-index.js';

const now = Date.parse('2026-03-10T12:00:00Z');

/** Writes the index object a writer of a session makes (IndexBuilder, as the recorder does); returns its key. */
async function writeIndex(store: RecordingStore, options: { id?: string; startedAt: string; writer?: string; ended?: boolean; verb?: string; subject?: string; namespace?: string }): Promise<{ id: string; key: string }> {
  const id = options.id ?? randomUUID();
  const builder = new IndexBuilder(
    {
      sessionId: id,
      tokenId: 't',
      subject: { kind: 'User', name: options.subject ?? 'deploy-bot' },
      grant: { namespace: 'kubegate-system', name: 'bot-grant', uid: 'u' },
      policy: { namespace: options.namespace ?? 'kubegate-system', name: 'prod', version: '1' },
      client: { command: 'kubectl get' },
      startedAt: options.startedAt,
      writer: options.writer ?? 'gateway-0',
    },
    3,
  );
  builder.observe({ type: 'request', requestId: 'r', method: 'GET', path: '/api/v1/pods', attributes: { namespace: 'payments', verb: options.verb ?? 'get', resource: 'pods' } }, options.startedAt);
  builder.events = 3;
  if (options.ended ?? true) builder.observe({ type: 'session-end', reason: 'done' }, options.startedAt);
  await store.put(builder.key(), Buffer.from(JSON.stringify(builder.toJSON())));
  return { id, key: builder.key() };
}

function fixture() {
  const store = openStore(`file://${mkdtempSync(join(tmpdir(), 'kubegate-console-index-'))}`);
  const clock = { time: now };
  const cache = new SessionIndexCache(store, { now: () => clock.time, recentMs: 2_000, fullMs: 300_000 });
  return { store, clock, cache };
}

const everyone = () => true;
const ids = (sessions: IndexedSession[]) => sessions.map((session) => session.id);

test('filled once; pages newest first; a cursor walks every session exactly once', async () => {
  const { store, cache } = fixture();
  const written = [];
  for (let i = 0; i < 7; i++) written.push(await writeIndex(store, { startedAt: `2026-03-0${1 + (i % 3)}T10:00:0${i}Z`, verb: i % 2 ? 'delete' : 'get' }));
  // two sessions starting in the same millisecond: the id orders them
  const same = '2026-03-09T09:00:00.000Z';
  written.push(await writeIndex(store, { startedAt: same }), await writeIndex(store, { startedAt: same }));
  await cache.fresh();
  assert.equal(cache.size, 9);
  assert.equal(cache.reads, 9);

  const walked: string[] = [];
  let cursor: string | undefined;
  do {
    const page = cache.page({}, undefined, everyone, cursor, 2);
    assert.equal(page.total, 9);
    walked.push(...ids(page.items));
    cursor = page.next;
  } while (cursor);
  assert.equal(walked.length, 9);
  assert.equal(new Set(walked).size, 9);
  const starts = walked.map((id) => cache.find(id)!.summary.startedAt);
  assert.deepEqual(starts, [...starts].sort().reverse(), 'newest first');

  const deletes = cache.page({ verb: 'delete' }, undefined, everyone, undefined, 50);
  assert.equal(deletes.total, 3);
  assert.equal(cache.page({}, { from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-02T23:59:59Z') }, everyone, undefined, 50).total, 2);
  assert.equal(cache.page({}, undefined, (session) => session.summary.policy.namespace === 'elsewhere', undefined, 50).total, 0);
  assert.equal(decodeCursor('not a cursor'), undefined);
  assert.equal(cache.find(written[0]!.id.slice(0, 12))?.id, written[0]!.id, 'a unique prefix finds the session');
  assert.equal(cache.find('2'), undefined, 'too short a prefix finds nothing');
});

test('a refresh lists recent days only: new sessions and open ones are read, ended ones never again', async () => {
  const { store, clock, cache } = fixture();
  const old = await writeIndex(store, { startedAt: '2026-03-01T10:00:00Z' });
  const open = await writeIndex(store, { startedAt: '2026-03-10T11:00:00Z', ended: false });
  await writeIndex(store, { startedAt: '2026-03-10T11:30:00Z' });
  await cache.fresh();
  assert.equal(cache.reads, 3);
  assert.equal(cache.find(open.id)!.summary.endedAt, null);

  await cache.fresh();
  assert.equal(cache.reads, 3, 'within 2 s nothing is listed or read');
  await writeIndex(store, { id: open.id, startedAt: '2026-03-10T11:00:00Z', ended: true });
  const fresh = await writeIndex(store, { startedAt: '2026-03-09T23:00:00Z' });
  const late = await writeIndex(store, { startedAt: '2026-03-02T10:00:00Z' });
  clock.time += 2_000;
  await cache.fresh();
  assert.equal(cache.reads, 5, 'the open session and the new one of yesterday: nothing else');
  assert.notEqual(cache.find(open.id)!.summary.endedAt, null, 'the session ended');
  assert.ok(cache.find(fresh.id));
  assert.equal(cache.find(late.id), undefined, 'an older day is not listed every few seconds');

  await rm(join((store as unknown as { root: string }).root, ...old.key.split('/')));
  clock.time += 300_000;
  await cache.fresh();
  assert.equal(cache.reads, 6, 'the full listing reads only the late upload');
  assert.ok(cache.find(late.id), 'a late upload to an older day is found by the full listing');
  assert.equal(cache.find(old.id), undefined, 'a deleted index object is forgotten');
  assert.equal(cache.size, 4);
});

test('the writers of one session are one row; an unreadable index object is reported, not fatal', async () => {
  const { store, cache } = fixture();
  const id = randomUUID();
  await writeIndex(store, { id, startedAt: '2026-03-10T10:00:00Z', writer: 'gateway-0', verb: 'get' });
  await writeIndex(store, { id, startedAt: '2026-03-10T10:00:00Z', writer: 'gateway-1', verb: 'delete' });
  await store.put('index/2026/03/10/broken/gateway-0.json', Buffer.from('{not json'));
  await cache.fresh();
  assert.equal(cache.size, 1);
  const session = cache.find(id)!;
  assert.deepEqual(session.summary.writers, ['gateway-0', 'gateway-1']);
  assert.deepEqual(session.summary.verbs, ['delete', 'get']);
  assert.deepEqual(cache.unreadable().map((entry) => entry.key), ['index/2026/03/10/broken/gateway-0.json']);
  assert.deepEqual(cache.policyNamespaces(), ['kubegate-system']);
});
