/**
 * `kubegate history RESOURCE/NAME [-n NS]`: every recorded call on one object — who created it, changed
 * it, exec'd into it, deleted it — across sessions and subjects, in time order, from the store's
 * per-object index (src/audit/history.ts). All recorded time by default (an object's folder holds only
 * its own calls); `--since/--from/--to` narrow it, and the selection flags (src/audit/selection.ts) too.
 */
import type { Command } from 'commander';
import { objectHistory, objectRef } from '../audit/history.js';
import { selectionFrom, selectionOptions, type SelectionFlags } from '../audit/selection.js';
import type { ObjectIndexEntry } from '../recording/object-index.js';
import type { RecordingStore } from '../recording/store.js';
import type { TimeRange } from '../audit/query.js';
import { CliError } from './output.js';
import { JsonArrayWriter, storeOptions, withStore, type StoreFlags } from './sessions-common.js';

type HistoryFlags = StoreFlags & SelectionFlags & { namespace?: string; allNamespaces?: boolean };

/** The beginning of recorded time, for a history without `--since` or `--from`. */
const allTime = '1970-01-01T00:00:00Z';

function row(entry: ObjectIndexEntry, showNamespace: boolean): string[] {
  const call = entry.subresource ? `${entry.verb} ${entry.subresource}` : entry.verb;
  const ended = entry.status === null ? 'open' : String(entry.status) + (entry.exitCode === undefined ? '' : ` exit ${entry.exitCode}`);
  return [
    `${entry.time.slice(0, 23)}Z`,
    ...(showNamespace ? [entry.namespace || '-'] : []),
    call,
    entry.subject,
    entry.grant,
    entry.approval ?? '-',
    entry.rule ?? '-',
    entry.decision || '-',
    ended,
    entry.session.slice(0, 8),
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  return rows.map((cells) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd() + '\n').join('');
}

async function history(store: RecordingStore, range: TimeRange, target: string, flags: HistoryFlags): Promise<void> {
  let query: Parameters<typeof objectHistory>[1];
  try {
    // -n names the object's namespace here; the selection's --namespace is not offered (the object has one)
    query = { ref: objectRef(target, flags.allNamespaces ? undefined : flags.namespace), allNamespaces: flags.allNamespaces ?? false, range, selection: selectionFrom({ ...flags, namespace: undefined }) };
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  if (flags.allNamespaces && !query.ref.namespaced) throw new CliError(`${query.ref.resource} are cluster-scoped: drop --all-namespaces`);
  const entries = await objectHistory(store, query);
  if (flags.output === 'json') {
    const json = new JsonArrayWriter();
    for (const entry of entries) await json.write(entry);
    json.end();
    return;
  }
  if (entries.length === 0) throw new CliError(`no recorded call on ${target}${query.ref.namespace ? ` in namespace ${query.ref.namespace}` : ''} in ${store.url} from ${range.from.toISOString()} to ${range.to.toISOString()}`);
  const header = ['TIME', ...(flags.allNamespaces ? ['NAMESPACE'] : []), 'VERB', 'SUBJECT', 'GRANT', 'APPROVAL', 'RULE', 'DECISION', 'STATUS', 'SESSION'];
  process.stdout.write(table([header, ...entries.map((entry) => row(entry, flags.allNamespaces ?? false))]));
}

export function registerHistoryCommand(program: Command): void {
  const command = storeOptions(
    program
      .command('history <resource/name>')
      .description('every recorded call on one object, oldest first: who created, changed or deleted it, under which grant, approval and rule')
      .option('-n, --namespace <namespace>', "the object's namespace (default: default; none for cluster-scoped resources)")
      .option('-A, --all-namespaces', 'the objects of that name in every namespace'),
    'calls',
  );
  // the object's own namespace is -n: the selection's --namespace would say the same
  selectionOptions(command, 'calls', ['namespace', 'resource', 'name']);
  command.action((target: string, flags: HistoryFlags) => {
    const ranged = flags.since || flags.from ? flags : { ...flags, from: allTime };
    return withStore(ranged, (store, range) => history(store, range, target, flags));
  });
}
