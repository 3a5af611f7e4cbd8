/**
 * The recording's one key encoder: no subject, session id or writer id can leave its folder or break the
 * layout, every segment decodes back to its name (unless shortened), and two names never share a segment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainPrefix, indexKey, indexKeySession, manifestKey, segmentKey, sessionFolder, sessionFolderOf, sessionPrefix, type SessionMetadata } from '../../src/recording/format.js';
import { decodeKeySegment, encodeKeySegment, maxKeySegmentLength } from '../../src/recording/key-segment.js';

/** Names that broke (or could break) v1's layout, and names that must come out unchanged. */
const awkward = ['.', '..', '...', 'a/b', '/', '', '%', '%2F', 'a%b', '~', '_', '.kubegate-tmp-abc', ' ', 'a\0b', 'a\\b', 'Zoë', '日本語', '🔑', 'alice@example.com', 'x'.repeat(66)];
const plain = ['deploy-bot', 'payments.deploy-bot', '8ebe0df3-b556-4001-8e25-7d518e2ca548', '2025', '03', 'a_b', 'gateway-7f9c4-x2kq8-1a2b3c'];

function assertSafe(segment: string, name: string): void {
  const shown = JSON.stringify(name).slice(0, 40);
  assert.ok(segment !== '' && segment !== '.' && segment !== '..', `${shown} → "${segment}"`);
  assert.ok(!segment.startsWith('.'), `${shown} → "${segment}" is a hidden name`);
  assert.match(segment, /^[A-Za-z0-9_.~%-]+$/, `${shown} → "${segment}"`);
  assert.ok(segment.length <= maxKeySegmentLength, `${shown} → ${segment.length} characters`);
}

test('awkward names become one safe segment each, and decode back', () => {
  for (const name of awkward) {
    const segment = encodeKeySegment(name);
    assertSafe(segment, name);
    assert.equal(decodeKeySegment(segment), name, JSON.stringify(name));
  }
  assert.deepEqual(['.', '..', 'a/b', '', '%', 'Zoë'].map(encodeKeySegment), ['%2E', '%2E.', 'a%2Fb', '%', '%25', 'Zo%C3%AB']);
  for (const name of plain) assert.equal(encodeKeySegment(name), name, 'Kubernetes names, UUIDs and dates are unchanged');
});

test('a name too long for a file name is shortened with a hash: still safe and its own, but not decodable', () => {
  const long = ['a'.repeat(300), `${'a'.repeat(299)}b`, 'é'.repeat(300), `kube-system.${'sa-'.repeat(80)}`, '\uD800', 'a\uDC00b'];
  const segments = long.map(encodeKeySegment);
  for (const [i, segment] of segments.entries()) {
    assertSafe(segment, long[i]!);
    assert.match(segment, /~[0-9a-f]{16}$/);
    assert.equal(decodeKeySegment(segment), undefined);
  }
  assert.equal(new Set(segments).size, long.length, 'names differing only past the cut stay apart');
  for (const cut of ['', 'a', 'ab']) assert.doesNotMatch(encodeKeySegment(cut + 'é'.repeat(300)), /%[0-9A-F]?~/, 'an escape is never cut in half');
  assert.equal(encodeKeySegment('a'.repeat(maxKeySegmentLength)), 'a'.repeat(maxKeySegmentLength), 'the longest name kept whole');
});

test('only what the encoder writes decodes', () => {
  for (const segment of ['%41', '%2f', '%C3', '.', '..', '.x', 'a/b', '', 'a b', '%%', 'abc~0123456789abcdef']) assert.equal(decodeKeySegment(segment), undefined, segment);
});

test('random names over an alphabet of trouble: every segment safe, decodable and distinct', () => {
  const alphabet = ['a', 'Z', '0', '-', '_', '.', '/', '%', '~', ' ', '\0', 'é', '日', '🔑', '\uD800', '\uDC00'];
  let seed = 0x9e3779b9;
  const random = (n: number) => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed % n;
  };
  const names = new Set<string>();
  while (names.size < 3000) names.add(Array.from({ length: random(90) }, () => alphabet[random(alphabet.length)]!).join(''));
  const owners = new Map<string, string>();
  for (const name of names) {
    const segment = encodeKeySegment(name);
    assertSafe(segment, name);
    const decoded = decodeKeySegment(segment);
    if (!segment.includes('~')) assert.equal(decoded, name, JSON.stringify(name));
    assert.equal(owners.get(segment) ?? name, name, `${JSON.stringify(name)} and ${JSON.stringify(owners.get(segment))} share "${segment}"`);
    owners.set(segment, name);
  }
  assert.ok([...owners.keys()].some((segment) => segment.includes('~')) && [...owners.keys()].some((segment) => !segment.includes('~')), 'both kinds were tried');
});

const session = (name: string, namespace?: string): SessionMetadata => ({
  sessionId: '8ebe0df3-b556-4001-8e25-7d518e2ca548',
  tokenId: 't',
  subject: { kind: namespace ? 'ServiceAccount' : 'User', name, ...(namespace ? { namespace } : {}) },
  grant: { namespace: 'g', name: 'g', uid: 'u' },
  policy: { namespace: 'p', name: 'p', version: '1' },
  client: {},
  startedAt: '2025-03-01T09:00:00.000Z',
});

test('every key of a session keeps its depth whatever the subject, session id and writer are called', () => {
  for (const name of [...awkward.filter(Boolean), 'x'.repeat(300)]) {
    for (const metadata of [{ ...session(name), writer: name }, { ...session(name, '..'), sessionId: name, writer: 'gateway-0' }]) {
      const folder = sessionFolder(metadata);
      const keys = [segmentKey(chainPrefix(metadata), 0), manifestKey(chainPrefix(metadata), 12)];
      for (const key of keys) {
        const parts = key.split('/');
        assert.equal(parts.length, 8, key);
        for (const part of parts) assertSafe(part, name);
        assert.ok(key.startsWith(folder));
        assert.deepEqual(sessionFolderOf(key), { prefix: folder, sessionId: decodeKeySegment(folder.split('/')[5]!) ?? folder.split('/')[5] });
      }
      const index = indexKey(metadata);
      assert.equal(index.split('/').length, 6, index);
      for (const part of index.split('/')) assertSafe(part.replace(/\.json$/, '') || 'x', name);
      if (metadata.sessionId.length < 60) assert.equal(indexKeySession(index), metadata.sessionId);
    }
  }
  assert.equal(sessionFolder(session('deploy-bot', 'payments')), 'sessions/2025/03/01/payments.deploy-bot/8ebe0df3-b556-4001-8e25-7d518e2ca548/');
  assert.equal(indexKey({ ...session('x'), writer: 'gw-1' }), 'index/2025/03/01/8ebe0df3-b556-4001-8e25-7d518e2ca548/gw-1.json');
});

test('a chain without a writer (a v1 spool finished by this version) keeps the v1 keys', () => {
  const v1 = session('alice@example.com');
  assert.equal(sessionPrefix(v1), 'sessions/2025/03/01/alice_40example.com/8ebe0df3-b556-4001-8e25-7d518e2ca548/');
  assert.equal(chainPrefix(v1), sessionPrefix(v1));
  assert.equal(indexKey(v1), 'index/2025/03/01/8ebe0df3-b556-4001-8e25-7d518e2ca548.json');
  assert.equal(indexKeySession(indexKey(v1)), v1.sessionId);
  assert.equal(sessionPrefix({ ...v1, writer: 'gw' }), 'sessions/2025/03/01/alice%40example.com/8ebe0df3-b556-4001-8e25-7d518e2ca548/');
});
