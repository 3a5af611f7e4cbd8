/** For error-boundary tests: runs `body` and fails if the process saw an uncaughtException meanwhile. */
import assert from 'node:assert/strict';

export async function withoutUncaughtExceptions(body: () => Promise<void>): Promise<void> {
  const uncaught: unknown[] = [];
  const listener = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', listener);
  try {
    await body();
    // an exception thrown by a listener after the body's last await still shows up here
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('uncaughtException', listener);
  }
  assert.deepEqual(uncaught, [], 'no exception reached the process');
}
