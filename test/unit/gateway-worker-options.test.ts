/**
 * The Node options of `kubegate gateway`'s workers: the primary adds --expose-gc (for the collection
 * after start-up) unless its own options or NODE_OPTIONS set it already, and passes its own on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workerExecArgv, workerNodeOptions } from '../../src/cli/gateway-workers.js';

test("a worker runs with the workers' options, then the primary's own", () => {
  assert.deepEqual(workerNodeOptions, ['--expose-gc']);
  assert.deepEqual(workerExecArgv(['--enable-source-maps', '--max-old-space-size=200']), ['--expose-gc', '--enable-source-maps', '--max-old-space-size=200']);
  assert.deepEqual(workerExecArgv([]), ['--expose-gc']);
});

test('an option the primary runs with, or that NODE_OPTIONS sets, is not added again', () => {
  assert.deepEqual(workerExecArgv(['--expose-gc', '--import=/x.js']), ['--expose-gc', '--import=/x.js']);
  assert.deepEqual(workerExecArgv([], ' --max-semi-space-size=8  --expose-gc '), []);
  assert.deepEqual(workerExecArgv(['--import=/x.js'], '--max-old-space-size=100'), ['--expose-gc', '--import=/x.js']);
});
