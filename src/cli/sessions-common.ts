/** What every `kubegate sessions` command shares: the store, the time range, JSON output. */
import { once } from 'node:events';
import type { Command } from 'commander';
import { openStore } from '../recording/open-store.js';
import { timeRange, type TimeRange } from '../audit/query.js';
import type { RecordingStore } from '../recording/store.js';
import { CliError, outputOption, type OutputFormat } from './output.js';

export interface StoreFlags {
  store?: string;
  since?: string;
  from?: string;
  to?: string;
  output: OutputFormat;
}

/** Opens the store named by --store or $KUBEGATE_STORE, runs, closes it; every failure is one CLI line. */
export function withStore<T extends StoreFlags>(flags: T, run: (store: RecordingStore, range: TimeRange) => Promise<void>): Promise<void> {
  const url = flags.store ?? process.env.KUBEGATE_STORE;
  if (!url) throw new CliError('no recording store: pass --store s3://BUCKET/PREFIX or file://DIR, or set KUBEGATE_STORE');
  let range: TimeRange;
  let store: RecordingStore;
  try {
    range = timeRange(flags);
    store = openStore(url);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
  return run(store, range)
    .catch((error: unknown) => {
      throw error instanceof CliError ? error : new CliError(error instanceof Error ? error.message : String(error));
    })
    .finally(() => store.close());
}

/** --store, the time range and -o: on every sessions command. */
export function storeOptions(command: Command, rangeHelp: string): Command {
  return command
    .option('--store <url>', 'the recording store: s3://BUCKET/PREFIX or file://DIR (default $KUBEGATE_STORE)')
    .option('--since <duration>', `${rangeHelp} that started within this long (e.g. 2h, 30m)`)
    .option('--from <time>', `${rangeHelp} that started at or after this RFC 3339 time`)
    .option('--to <time>', `${rangeHelp} that started at or before this RFC 3339 time (default now)`)
    .addOption(outputOption());
}

/** Writes a JSON array one element at a time, so a long answer is never built in memory. */
export class JsonArrayWriter {
  private first = true;

  write(value: unknown): Promise<void> {
    const ok = process.stdout.write(`${this.first ? '[\n' : ',\n'}${JSON.stringify(value)}`);
    this.first = false;
    return ok ? Promise.resolve() : once(process.stdout, 'drain').then(() => undefined);
  }

  end(): void {
    process.stdout.write(this.first ? '[]\n' : '\n]\n');
  }
}

