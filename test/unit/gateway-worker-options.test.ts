/**
 * The Node options of `kubegate gateway`'s workers: the primary adds a small young generation and
 * --expose-gc (for the collection after start-up), each unless the primary's own options or
 * NODE_OPTIONS set it already, where the operator's or the user's setting wins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workerExecArgv, workerNodeOptions } from '../../src/cli/gateway-workers.js';

test("a worker runs with the workers' options, then the primary's own", () => {
  assert.deepEqual(workerExecArgv(['--enable-source-maps']), [...workerNodeOptions, '--enable-source-maps']);
  assert.deepEqual(workerExecArgv([]), workerNodeOptions);
});

test('an option the primary runs with, or that NODE_OPTIONS sets, is not added (whatever its value)', () => {
  const [semiSpace, exposeGc] = workerNodeOptions.map((option) => option.split('=')[0]!);
  assert.ok(semiSpace === '--max-semi-space-size' && exposeGc === '--expose-gc');
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=16']), ['--expose-gc', '--max-semi-space-size=16']);
  assert.deepEqual(workerExecArgv([], ' --expose-gc  --max-semi-space-size=8 '), []);
  assert.deepEqual(workerExecArgv(['--import=/x.js'], '--max-old-space-size=100'), [...workerNodeOptions, '--import=/x.js']);
});
