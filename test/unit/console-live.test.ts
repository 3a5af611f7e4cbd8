/** The console's reading of the gateways' server-sent events: messages cut anywhere, comments, line ends. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../../src/console/live.js';
import { sseEvent, sseJson } from '../../src/util/server-sent-events.js';

test('server-sent events are read whole whatever the chunks, with every line end and comments skipped', () => {
  const text = `${sseJson('snapshot', { sessions: [] })}: keep-alive\n\nevent: stream-data\r\ndata: {"a":1}\r\n\r\ndata: line 1\ndata: line 2\n\nevent: empty\n\n`;
  const whole = new SseParser().push(text);
  assert.deepEqual(whole, [
    { event: 'snapshot', data: '{"sessions":[]}' },
    { event: 'stream-data', data: '{"a":1}' },
    { event: 'message', data: 'line 1\nline 2' },
  ]);
  for (let size = 1; size < 12; size++) {
    const parser = new SseParser();
    const messages = [];
    for (let i = 0; i < text.length; i += size) messages.push(...parser.push(text.slice(i, i + size)));
    assert.deepEqual(messages, whole, `chunks of ${size}`);
  }
});

test('a relayed data text with line breaks is written one data field a line and read back whole', () => {
  const relayed = sseEvent('request', '{\n"verb":\r\n"get"\r}');
  assert.equal(relayed, 'event: request\ndata: {\ndata: "verb":\ndata: "get"\ndata: }\n\n');
  assert.deepEqual(new SseParser().push(relayed), [{ event: 'request', data: '{\n"verb":\n"get"\n}' }]);
});

test('an event that never ends is refused past 1 MiB instead of held', () => {
  const parser = new SseParser();
  assert.throws(() => parser.push(`data: ${'x'.repeat(1024 * 1024)}`), /longer than 1 MiB/);
});
