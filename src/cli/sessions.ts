/**
 * `kubegate sessions list|search|show|play|verify`: the auditor's commands over a recording store
 * (`--store`, default $KUBEGATE_STORE; s3:// stores take the standard AWS_* environment).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import { asciicastLines } from '../audit/asciicast.js';
import { play, terminalFrames } from '../audit/playback.js';
import { findSessions, resolveSession, type FoundSession, type SessionSummary, type TimeRange } from '../audit/query.js';
import { needsCalls, SelectedCalls, selectionFrom, selectionOptions, type Selection, type SelectionFlags } from '../audit/selection.js';
import { sessionEvents, storedSession, type SessionEvent } from '../audit/reader.js';
import { SessionSearch, type SearchMatch } from '../audit/search.js';
import type { RecordingStore } from '../recording/store.js';
import { renderEntry, Timeline, type TimelineEntry } from '../audit/timeline.js';
import { CliError } from './output.js';
import { JsonArrayWriter, storeOptions, withStore, type StoreFlags } from './sessions-common.js';
import { formatDuration } from '../util/duration.js';
import { verifyCommand } from './sessions-verify.js';

type ListFlags = StoreFlags & SelectionFlags;

/** The flags' selection, as one CLI error when a flag is malformed. */
function selectionOf(flags: SelectionFlags): Selection {
  try {
    return selectionFrom(flags);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** Sessions the selection picks: by their index, then, where it names what only calls say, by following their calls. */
async function* selectedSessions(store: RecordingStore, selection: Selection, range: TimeRange): AsyncGenerator<FoundSession> {
  for await (const session of findSessions(store, selection, range)) {
    if (!needsCalls(selection)) {
      yield session;
      continue;
    }
    const calls = new SelectedCalls<never>(selection, session.summary);
    for await (const event of eventsOf(store, session)) {
      calls.hold(event, []);
      if (calls.matched > 0) break;
    }
    calls.end();
    if (calls.matched > 0) yield session;
  }
}

const shortId = (id: string) => id.slice(0, 8);
const subjectOf = (index: SessionSummary) => `${index.subject.namespace ? `${index.subject.namespace}/` : ''}${index.subject.name}`;

function duration(index: SessionSummary): string {
  return index.endedAt ? formatDuration(Date.parse(index.endedAt) - Date.parse(index.startedAt)) : 'open';
}

/** The events of a session found by its index, its writers' merged by time. */
async function* eventsOf(store: RecordingStore, session: FoundSession): AsyncGenerator<SessionEvent> {
  yield* sessionEvents(store, await storedSession(store, session.sessionId, session.indexes));
}

/** Rows padded to their widest cell: the rows are index entries (small), never session content. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd() + '\n').join('');
}

async function list(store: RecordingStore, range: TimeRange, flags: ListFlags): Promise<void> {
  const json = new JsonArrayWriter();
  const rows = [['ID', 'SUBJECT', 'GRANT', 'STARTED', 'DURATION', 'EVENTS', 'DECISIONS']];
  for await (const { summary: index } of selectedSessions(store, selectionOf(flags), range)) {
    if (flags.output === 'json') await json.write(index);
    else rows.push([shortId(index.sessionId), subjectOf(index), `${index.grant.namespace}/${index.grant.name}`, `${index.startedAt.slice(0, 19)}Z`, duration(index), String(index.events), index.decisions.join(',')]);
  }
  if (flags.output === 'json') json.end();
  else if (rows.length > 1) process.stdout.write(table(rows));
  else process.stderr.write(`no sessions in ${store.url} from ${range.from.toISOString()} to ${range.to.toISOString()}\n`);
}

async function search(store: RecordingStore, range: TimeRange, text: string, flags: ListFlags & { maxMatches: string }): Promise<void> {
  const perSession = Number(flags.maxMatches);
  if (!Number.isInteger(perSession) || perSession < 1) throw new CliError(`--max-matches must be a positive integer, got "${flags.maxMatches}"`);
  const json = new JsonArrayWriter();
  let found = 0;
  const selection = selectionOf(flags);
  for await (const session of findSessions(store, selection, range)) {
    const index = session.summary;
    const matcher = new SessionSearch(text);
    const calls = new SelectedCalls<SearchMatch>(selection, index);
    let matches = 0;
    const shown = async function* (): AsyncGenerator<SearchMatch> {
      for await (const event of eventsOf(store, session)) yield* calls.hold(event, matcher.push(event));
      yield* calls.end();
    };
    for await (const match of shown()) {
      {
        if (++matches > perSession) continue;
        found++;
        if (flags.output === 'json') await json.write({ sessionId: index.sessionId, subject: subjectOf(index), grant: `${index.grant.namespace}/${index.grant.name}`, ...match });
        else process.stdout.write(`${shortId(index.sessionId)}  ${match.time}  ${subjectOf(index)}  ${match.where}: ${match.line}\n`);
      }
    }
    if (matches > perSession && flags.output !== 'json') process.stdout.write(`${shortId(index.sessionId)}  … ${matches - perSession} more matches (kubegate sessions show ${index.sessionId})\n`);
  }
  if (flags.output === 'json') json.end();
  else if (found === 0) throw new CliError(`no session from ${range.from.toISOString()} to ${range.to.toISOString()} matches "${text}"`);
}

async function show(store: RecordingStore, range: TimeRange, id: string, flags: StoreFlags & { withOutput?: boolean }): Promise<void> {
  const session = await resolveSession(store, id, range);
  const index = session.summary;
  const timeline = new Timeline({ output: flags.withOutput ?? false });
  const json = new JsonArrayWriter();
  const emit = async (entries: TimelineEntry[]) => {
    for (const entry of entries) {
      if (flags.output === 'json') await json.write(entry);
      else process.stdout.write(`${renderEntry(entry)}\n`);
    }
  };
  if (flags.output !== 'json') process.stdout.write(`session ${index.sessionId}  (${store.url}/${index.prefix})${index.endedAt ? '' : '  — still open'}\n`);
  for await (const event of eventsOf(store, session)) await emit(timeline.push(event));
  await emit(timeline.end());
  if (flags.output === 'json') json.end();
}

interface PlayFlags extends StoreFlags {
  speed: string;
  idleLimit?: string;
  asciicast?: string;
  input?: boolean;
}

async function playSession(store: RecordingStore, range: TimeRange, id: string, flags: PlayFlags): Promise<void> {
  const speed = Number(flags.speed);
  if (!Number.isFinite(speed) || speed < 0) throw new CliError(`--speed must be a number ≥ 0 (0: no waiting), got "${flags.speed}"`);
  const idleLimit = flags.idleLimit === undefined ? undefined : Number(flags.idleLimit);
  if (idleLimit !== undefined && !(idleLimit >= 0)) throw new CliError(`--idle-limit must be a number of seconds, got "${flags.idleLimit}"`);
  const session = await resolveSession(store, id, range);
  const index = session.summary;
  const frames = terminalFrames(eventsOf(store, session));
  if (flags.asciicast) {
    const out = flags.asciicast === '-' ? process.stdout : createWriteStream(flags.asciicast);
    let lines = 0;
    for await (const line of asciicastLines(frames, `kubegate session ${index.sessionId} (${subjectOf(index)})`)) {
      lines++;
      if (!out.write(line)) await once(out, 'drain');
    }
    if (out !== process.stdout) await new Promise<void>((resolve) => out.end(() => resolve()));
    if (lines === 0) throw new CliError(`session ${index.sessionId} has no exec or attach terminal to play`);
    if (out !== process.stdout) process.stderr.write(`wrote ${flags.asciicast} (asciicast v2, ${lines - 1} events)\n`);
    return;
  }
  if (flags.output === 'json') {
    const json = new JsonArrayWriter();
    for await (const frame of frames) await json.write(frame);
    json.end();
    return;
  }
  await play(frames, process.stdout, { speed, input: flags.input ?? false, ...(idleLimit !== undefined ? { idleLimitMs: idleLimit * 1000 } : {}) });
}

export function registerSessionsCommands(program: Command): void {
  const sessions = program.command('sessions').description('find, read, play back and verify recorded sessions');
  selectionOptions(storeOptions(sessions.command('list').description('list recorded sessions (the last 7 days by default)'), 'sessions'), 'sessions').action((flags: ListFlags) =>
    withStore(flags, (store, range) => list(store, range, flags)),
  );
  selectionOptions(
    storeOptions(
      sessions
        .command('search <text>')
        .description('find sessions by an API call as typed ("kubectl delete pod api-7") or by text in exec commands, stdin and output'),
      'search sessions',
    ),
    'matches in calls',
  )
    .option('--max-matches <n>', 'matching lines printed per session', '20')
    .action((text: string, flags: ListFlags & { maxMatches: string }) => withStore(flags, (store, range) => search(store, range, text, flags)));
  storeOptions(sessions.command('show <session>').description('the timeline of a session: API calls, decisions, streams, stdin, approvals, gaps'), 'look for the session among sessions')
    .option('--with-output', 'also show stdout and stderr lines of exec and attach')
    .action((id: string, flags: StoreFlags & { withOutput?: boolean }) => withStore(flags, (store, range) => show(store, range, id, flags)));
  storeOptions(sessions.command('play <session>').description("play back a session's exec/attach terminal, or write it as asciicast v2"), 'look for the session among sessions')
    .option('--speed <n>', 'playback speed: 1 real time, 2 twice as fast, 0 without waiting', '1')
    .option('--idle-limit <seconds>', 'cap every pause at this many seconds')
    .option('--input', 'also print what was typed on stdin')
    .addOption(new Option('--asciicast <file>', 'write asciicast v2 to this file ("-": stdout) instead of playing'))
    .action((id: string, flags: PlayFlags) => withStore(flags, (store, range) => playSession(store, range, id, flags)));
  verifyCommand(sessions);
}
