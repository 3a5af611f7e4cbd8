/**
 * The error boundary of a session. An exception thrown by an event listener, a timer or a promise
 * callback would otherwise reach the process as an `uncaughtException` (or an unhandled rejection,
 * which Node 22 turns into one), after which Node does not promise the process can safely go on — so
 * every callback that runs one session's code goes through `guarded`, and an unexpected exception
 * ends that session only (`fail`), with the reason recorded and the error logged by `fail`.
 */

/** `fn`, but an exception it throws (or a promise it returns that rejects) goes to `fail`. */
export function guarded<A extends unknown[], R>(fail: (error: unknown) => void, fn: (...args: A) => R): (...args: A) => R | undefined {
  return (...args: A) => {
    try {
      const result = fn(...args);
      if (result instanceof Promise) return result.catch((error: unknown) => failSafely(fail, error)) as R;
      return result;
    } catch (error) {
      failSafely(fail, error);
      return undefined;
    }
  };
}

/** A `fail` that throws in turn must not escape the boundary either: the error goes to stderr. */
function failSafely(fail: (error: unknown) => void, error: unknown): void {
  try {
    fail(error);
  } catch (second) {
    process.stderr.write(`kubegate: ending a failed session failed too: ${(second as Error)?.stack ?? String(second)}\n(first: ${(error as Error)?.stack ?? String(error)})\n`);
  }
}

/** The reason a session ended by a failure records. */
export function internalErrorReason(error: unknown): string {
  return `internal error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
}
