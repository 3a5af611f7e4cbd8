/**
 * The sandbox's process hygiene, through the real CLI: several sandboxes at once on their own ports,
 * `env` usable by the real kubectl, `down` leaving no process behind, and no orphan when the supervisor
 * is SIGKILLed or the process that owns a sandbox dies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/package-root.js';
import { readLiveState, startSandboxProcess, stopSandbox } from '../../src/sandbox/control.js';
import { isAlive } from '../../src/sandbox/process.js';
import type { SandboxState } from '../../src/sandbox/sandbox.js';
import { eventually } from '../harness/workloads.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kubegate-lifecycle-'));
}

function allPids(state: SandboxState): number[] {
  return [state.supervisor.pid, ...state.components.map((c) => c.pid)];
}

async function assertAllGone(state: SandboxState): Promise<void> {
  await eventually(async () => {
    const alive = allPids(state).filter(isAlive);
    assert.deepEqual(alive, [], 'every sandbox process has exited');
  }, 20_000);
}

test('two sandboxes run side by side; env drives the real kubectl; down leaves no process behind', async () => {
  const [first, second] = [tempDir(), tempDir()];
  try {
    const ups = await Promise.all([first, second].map((dir) => run(kubegate, ['sandbox', 'up', '--dir', dir], { timeout: 180_000 })));
    for (const up of ups) assert.match(up.stdout, /sandbox ready in \d+\.\ds/);
    const states = [first, second].map((dir) => readLiveState(dir)!);
    assert.notEqual(states[0]!.apiserver.url, states[1]!.apiserver.url);

    for (const dir of [first, second]) {
      const { stdout } = await run('bash', ['-c', `eval "$("${kubegate}" sandbox env --dir "${dir}")"; kubectl get nodes --no-headers`]);
      assert.match(stdout, /^kwok-node-0\s+Ready\s/);
    }
    const again = await run(kubegate, ['sandbox', 'up', '--dir', first]).catch((error: { stderr: string; code: number }) => error);
    assert.equal((again as { code: number }).code, 1);
    assert.match((again as { stderr: string }).stderr, /already running/);

    await run(kubegate, ['sandbox', 'down', '--dir', first]);
    await assertAllGone(states[0]!);
    // the other sandbox is untouched
    assert.ok(allPids(states[1]!).every(isAlive));
    const env = await run(kubegate, ['sandbox', 'env', '--dir', first]).catch((error: { stderr: string }) => error);
    assert.match((env as { stderr: string }).stderr, /no sandbox is running/);
    await run(kubegate, ['sandbox', 'down', '--dir', second]);
    await assertAllGone(states[1]!);
  } finally {
    for (const dir of [first, second]) {
      await stopSandbox(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a SIGKILLed supervisor or a dead owner process leaves no program running', async () => {
  const [killed, owned] = [tempDir(), tempDir()];
  const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    const [killedState, ownedState] = await Promise.all([
      startSandboxProcess(killed).ready,
      startSandboxProcess(owned, { ownerPid: owner.pid }).ready,
    ]);
    process.kill(killedState.supervisor.pid, 'SIGKILL');
    await assertAllGone(killedState);
    owner.kill('SIGKILL');
    await assertAllGone(ownedState);
    // `down` on a folder whose sandbox is gone says so and trusts no stale pid
    assert.equal(await stopSandbox(killed), false);
  } finally {
    owner.kill('SIGKILL');
    for (const dir of [killed, owned]) {
      await stopSandbox(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
