/** A response's capture for its recording: the same recorded body whether it stayed in memory or spilled to a file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BodyCapture } from '../../src/gateway/body-capture.js';

const json = 'application/json';
/** `count` chunks of 16 KiB, each a different letter: a misplaced chunk shows. */
const chunks = (count: number) => Array.from({ length: count }, (_, i) => Buffer.alloc(16 * 1024, String.fromCharCode(97 + (i % 26))));

/** The files in `dir` once one is there (the write stream opens its file in the background), or none after 2 s. */
async function filesOnceOpened(dir: string): Promise<number> {
  for (let waited = 0; waited < 2000 && readdirSync(dir).length === 0; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  return readdirSync(dir).length;
}

/** A response still running after the spill delay (0 here): its capture beyond 64 KiB goes to a file. */
const stillRunning = { memoryBytes: 64 * 1024, spillAfterMs: 0 };
/** Past the spill delay: a timer due later than the capture's (timers run in the order they are due). */
const pastSpillDelay = () => new Promise((resolve) => setTimeout(resolve, 1));

async function capture(parts: Buffer[], cap: number, spillDir?: string) {
  const body = new BodyCapture(cap, spillDir, stillRunning);
  for (const part of parts) body.push(part);
  await pastSpillDelay();
  const spilledWhileOpen = spillDir && parts.length > 4 && cap > stillRunning.memoryBytes ? await filesOnceOpened(spillDir) : 0;
  const modeWhileOpen = spilledWhileOpen ? statSync(join(spillDir!, readdirSync(spillDir!)[0]!)).mode & 0o777 : undefined;
  return { spilledWhileOpen, modeWhileOpen, recorded: await body.captured(json) };
}

test('a response that ends within the spill delay never touches the disk, however large', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-spill-'));
  const body = new BodyCapture(1024 * 1024, dir); // the gateway's delay: this response ends long before it
  for (const part of chunks(12)) body.push(part);
  const recorded = await body.captured(json);
  await pastSpillDelay();
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(recorded.body, Buffer.concat(chunks(12)).toString());
});

test('a body within the in-memory share is recorded as it came, and no file is made', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-spill-'));
  const { recorded } = await capture(chunks(3), 1024 * 1024, dir);
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(recorded.body, Buffer.concat(chunks(3)).toString());
  assert.equal(recorded.bodyBytes, 3 * 16 * 1024);
  assert.equal(recorded.bodyTruncated, undefined);
});

test('a body beyond the in-memory share waits in a file, and is recorded byte for byte as an in-memory capture would be', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-spill-'));
  for (const cap of [1024 * 1024, 100_000]) {
    const spilled = await capture(chunks(12), cap, dir);
    const inMemory = await capture(chunks(12), cap);
    assert.equal(spilled.spilledWhileOpen, 1, 'one file while the response runs');
    assert.equal(spilled.modeWhileOpen, 0o600, 'readable by the gateway alone');
    assert.deepEqual(spilled.recorded, inMemory.recorded);
    assert.equal(spilled.recorded.bodyBytes, 12 * 16 * 1024);
    assert.equal(spilled.recorded.body.length, Math.min(cap, 12 * 16 * 1024));
    assert.deepEqual(readdirSync(dir), [], 'the file is gone once recorded');
  }
  assert.equal((await capture(chunks(12), 100_000, dir)).recorded.bodyTruncated, true);
});

test('a spill file that cannot be written cuts the recorded body there, says so, and throws nothing', async () => {
  const missing = join(mkdtempSync(join(tmpdir(), 'kubegate-spill-')), 'gone');
  const body = new BodyCapture(1024 * 1024, missing, stillRunning);
  for (const part of chunks(12)) body.push(part);
  await pastSpillDelay();
  const recorded = await body.captured(json);
  assert.equal(recorded.body, Buffer.concat(chunks(4)).toString(), 'the in-memory share');
  assert.equal(recorded.bodyBytes, 12 * 16 * 1024);
  assert.equal(recorded.bodyTruncated, true);
});
