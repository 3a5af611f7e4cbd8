/**
 * An error whose message is the one line a user sees; the CLI exits non-zero without a stack. A module
 * of its own (output.ts re-exports it) so that a gateway worker, which runs without commander, has it.
 */
export class CliError extends Error {}
