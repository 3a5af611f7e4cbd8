import { CliError } from './output.js';

/** A `--listen`-style flag, HOST:PORT (an empty host is every address). */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new CliError(`expected HOST:PORT, got "${value}"`);
  return { host: match[1] || '0.0.0.0', port: Number(match[2]) };
}
