import { Option } from 'commander';

export type OutputFormat = 'text' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

/** An error whose message is the one line a user sees; the CLI exits non-zero without a stack. */
export class CliError extends Error {}
