/**
 * `kubegate dev`'s state file: trusted only while its pid is still the same `kubegate dev` process, so a
 * stale file or a reused pid never makes a second `kubegate dev` refuse or `dev down` signal a stranger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveDevState, stopDev, writeDevState } from '../../src/cli/dev/state.js';
import { processStartTime } from '../../src/sandbox/process.js';

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'kubegate-dev-state-'));
}

test('a state file whose process is gone, restarted or not `kubegate dev` is not live', () => {
  const dir = folder();
  assert.equal(liveDevState(dir), undefined, 'no file');
  writeDevState({ dir, pid: 2 ** 22 + 1, startTime: '1', children: [] });
  assert.equal(liveDevState(dir), undefined, 'no such process');
  writeDevState({ dir, pid: process.pid, startTime: '1', children: [] });
  assert.equal(liveDevState(dir), undefined, 'same pid, another start time');
  writeDevState({ dir, pid: process.pid, startTime: processStartTime(process.pid)!, children: [] });
  assert.equal(liveDevState(dir), undefined, 'this test process is not `kubegate dev`');
});

test('dev down stops the `kubegate dev` of the state file and removes the file', async () => {
  const dir = folder();
  // a stand-in with kubegate dev's command line (…/main.js dev --dir DIR) that exits on SIGTERM
  const script = join(dir, 'main.js');
  writeFileSync(script, "process.on('SIGTERM', () => process.exit(0)); process.send?.('up'); setInterval(() => {}, 1000);\n");
  const child = spawn(process.execPath, [script, 'dev', '--dir', dir], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  await once(child, 'message');
  writeDevState({ dir, pid: child.pid!, startTime: processStartTime(child.pid!)!, children: [] });
  assert.equal(liveDevState(dir)?.pid, child.pid);
  const exited = once(child, 'exit');
  assert.equal(await stopDev(dir), true);
  assert.deepEqual(await exited, [0, null], 'stopped by SIGTERM, so it could stop its children in order');
  assert.ok(!existsSync(join(dir, 'dev.json')));
  assert.equal(await stopDev(dir), false, 'nothing runs any more');
});
