import { Option } from 'commander';

export type OutputFormat = 'text' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

export { CliError } from './cli-error.js';
