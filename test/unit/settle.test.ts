import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settleAll } from '../../src/util/settle.js';

test('settleAll resolves every value in order, like Promise.all', async () => {
  assert.deepEqual(await settleAll<[number, string]>([Promise.resolve(1), Promise.resolve('two')]), [1, 'two']);
});

test('settleAll fails only once every promise has settled, with the failure `report` picks, else the first', async () => {
  let lateWriteDone = false;
  const late = new Promise<void>((resolve) => setTimeout(() => ((lateWriteDone = true), resolve()), 20));
  const missing = Object.assign(new Error('namespace missing'), { minor: true });
  const worse = new Error('forbidden');
  await assert.rejects(settleAll([Promise.reject(missing), late, Promise.reject(worse)], (error) => !(error as { minor?: boolean }).minor), (error) => error === worse);
  assert.equal(lateWriteDone, true, 'the write still on its way had landed before the failure was reported');
  await assert.rejects(settleAll([Promise.reject(missing)], () => false), (error) => error === missing);
});
