/**
 * `kubegate gateway --workers 2` as a real process: SIGKILL a worker and the other worker's open exec
 * session goes on, a replacement worker appears and serves; SIGKILL the worker serving the exec and
 * that session ends, while its replacement (same index, same spool folder) recovers the recording —
 * a `gap` and `session-end gateway-crash`, as after the crash of a whole gateway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayFixture } from '../harness/gateway-fixture.js';
import { eventually } from '../harness/workloads.js';

const setup = gatewayFixture({ gatewayArgs: ['--workers=2', '--segment-max-age-ms=600000'] }); // segments stay in the spool while the session runs

/** The primary's worker processes, by their index (each worker's KUBEGATE_WORKER_INDEX). */
function workers(primary: number): Map<number, number> {
  const pids = readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return new Map(
    pids.flatMap((pid) => {
      const environ = existsSync(`/proc/${pid}/environ`) ? readFileSync(`/proc/${pid}/environ`, 'utf8') : '';
      const index = /(?:^|\0)KUBEGATE_WORKER_INDEX=(\d+)/.exec(environ)?.[1];
      return index === undefined ? [] : [[Number(index), pid] as const];
    }),
  );
}

/** The events of every `.jsonl` under `dir`, by session id (the UUID in the path). */
function eventsBySession(dir: string): Map<string, Array<{ type: string; reason?: string }>> {
  const sessions = new Map<string, Array<{ type: string; reason?: string }>>();
  if (!existsSync(dir)) return sessions;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => /(^|\/)segment-\d{6}\.jsonl$/.test(file)).sort()) {
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(name)?.[0];
    if (!id) continue;
    const events = sessions.get(id) ?? [];
    sessions.set(id, events);
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      try {
        events.push(JSON.parse(line) as { type: string; reason?: string });
      } catch {
        // a line being written
      }
    }
  }
  return sessions;
}

/** The index of the worker whose spool holds the open exec (its `stream-open`). */
function servingWorker(spoolDir: string): number | undefined {
  for (const name of existsSync(spoolDir) ? readdirSync(spoolDir) : []) {
    const index = /^worker-(\d+)$/.exec(name)?.[1];
    const sessions = index === undefined ? [] : [...eventsBySession(join(spoolDir, name)).values()];
    if (sessions.some((events) => events.some((event) => event.type === 'stream-open'))) return Number(index);
  }
  return undefined;
}

/** Milliseconds from `since` until the primary logs the worker at `index` serving with a pid other than `dead`. */
async function replacementServing(logs: () => string, index: number, dead: number, since: number): Promise<number> {
  await eventually(async () => {
    const serving = logs()
      .split('\n')
      .filter((line) => line.includes('"msg":"worker serving"'))
      .map((line) => JSON.parse(line) as { worker: number; workerPid: number });
    assert.ok(serving.some((entry) => entry.worker === index && entry.workerPid !== dead), `worker ${index} replaced and serving`);
  }, 30_000, 50);
  return Date.now() - since;
}

test('invariant 11: a killed gateway worker is replaced without ending the sessions of the other; the killed one’s sessions are recovered from its spool', { timeout: 180_000 }, async () => {
  const { admin, bot, target, gateway } = await setup();
  const primary = gateway.process.pid!;
  await admin.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell' }, spec: { containers: [{ name: 'main', image: 'registry.example/shell:1.0' }] } }) });
  await admin.ok(['wait', '--for=condition=Ready', 'pod/shell', '-n', target, '--timeout=60s']);
  assert.deepEqual([...workers(primary).keys()].sort(), [0, 1]);

  const exec = bot.start(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'while read line; do echo "got $line"; done']);
  let output = '';
  exec.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  exec.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => exec.once('exit', resolve));
  const send = async (line: string) => {
    exec.stdin!.write(`${line}\n`);
    await eventually(async () => assert.match(output, new RegExp(`got ${line}\\n`)), 20_000, 50);
  };
  await send('line-1');
  let serving: number | undefined;
  await eventually(async () => assert.notEqual((serving = servingWorker(gateway.spoolDir)), undefined), 20_000, 50);
  const other = serving === 0 ? 1 : 0;

  // the worker not serving the exec dies: the exec goes on, a replacement serves, kubectl works
  const otherPid = workers(primary).get(other)!;
  // what a dead worker left of a response's spilled body belongs to no response: its replacement empties the folder
  const leftBody = join(gateway.spoolDir, 'bodies', `worker-${other}`, 'left-by-the-dead-worker.body');
  writeFileSync(leftBody, 'stale');
  let killedAt = Date.now();
  process.kill(otherPid, 'SIGKILL');
  const firstReplacementMs = await replacementServing(gateway.logs, other, otherPid, killedAt);
  assert.equal(existsSync(leftBody), false, 'the replacement emptied its spill folder');
  await send('line-2');
  assert.equal(workers(primary).size, 2, 'two workers again');
  for (let i = 0; i < 4; i++) assert.match(await bot.ok(['get', 'pods', '-n', target]), /shell/, 'new kubectl calls succeed, whichever worker takes them');

  // the worker serving the exec dies: that session ends, and its replacement recovers its spool
  const servingPid = workers(primary).get(serving!)!;
  killedAt = Date.now();
  process.kill(servingPid, 'SIGKILL');
  assert.notEqual(await exited, 0, 'the killed worker’s session ended');
  const secondReplacementMs = await replacementServing(gateway.logs, serving!, servingPid, killedAt);
  let recovered: Array<{ type: string; reason?: string }> | undefined;
  await eventually(
    async () => {
      recovered = [...eventsBySession(gateway.recordings).values()].find((events) => events.some((event) => event.type === 'stream-open'));
      assert.equal(recovered?.at(-1)?.type, 'session-end', 'the exec session is in the store, ended');
    },
    30_000,
    200,
  );
  const [gap, end] = recovered!.slice(-2);
  assert.equal(gap!.type, 'gap');
  assert.equal(end!.reason, 'gateway-crash');
  assert.match(await bot.ok(['get', 'pods', '-n', target]), /shell/);
  process.stdout.write(`# replacement worker serving after SIGKILL: ${firstReplacementMs} ms, ${secondReplacementMs} ms (with spool recovery)\n`);
});
