/**
 * `kubegate replay SESSION… | --subject/--grant/--namespace/--since/--from/--to-time`: re-executes the
 * recorded mutating calls of the sessions, merged in recorded time order, in a sandbox (`--sandbox`) or
 * a cluster the user names (`--to KUBECONFIG`, only one `kubegate sandbox up` marked unless
 * `--i-understand`), and reports each call's result against the recording. Exit code 1 on any difference.
 * `--as-recorded` sends the calls as the recorded identities (recorded-identity.ts) instead of the admin.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { findSessions, resolveSession, type FoundSession, type TimeRange } from '../audit/query.js';
import { sessionEvents, storedSession } from '../audit/reader.js';
import { mergeCalls, sessionCalls, type RecordedCall } from '../audit/replay/calls.js';
import { Replay, type ReplayOptions } from '../audit/replay/engine.js';
import { planIdentities } from '../audit/replay/recorded-identity.js';
import { buildReport, renderCall, renderSeeded, renderSummary, type ReplayReport } from '../audit/replay/report.js';
import { describeApiCall } from '../audit/api-call.js';
import { RawKubeClient } from '../kube/raw-client.js';
import { loadKubeconfig } from '../kube/load-kubeconfig.js';
import { hasSandboxMarker } from '../kube/sandbox-marker.js';
import { startSandboxProcess, stopSandbox } from '../sandbox/control.js';
import type { RecordingStore } from '../recording/store.js';
import { CliError, outputOption, type OutputFormat } from './output.js';
import { withStore } from './sessions-common.js';

interface ReplayFlags {
  store?: string;
  subject?: string;
  grant?: string;
  namespace?: string;
  since?: string;
  from?: string;
  toTime?: string;
  to?: string;
  sandbox?: boolean;
  keep?: boolean;
  iUnderstand?: boolean;
  dryRun?: boolean;
  step?: boolean;
  until?: string;
  asRecorded?: boolean;
  output: OutputFormat;
}

/** What is replayed: the sessions, their calls merged in time order, and the store they (and the access ledger) are in. */
interface Recorded {
  store: RecordingStore;
  sessions: FoundSession[];
  calls: RecordedCall[];
}

/** The sessions named by id (or prefix), else those the selection finds, oldest first. */
async function selectSessions(store: RecordingStore, range: TimeRange, ids: string[], flags: ReplayFlags): Promise<FoundSession[]> {
  if (ids.length > 0) return Promise.all(ids.map((id) => resolveSession(store, id, range)));
  if (!flags.subject && !flags.grant && !flags.namespace && !flags.since && !flags.from && !flags.toTime) throw new CliError('name sessions to replay, or select them with --subject, --grant, --namespace, --since, --from or --to-time');
  const found: FoundSession[] = [];
  for await (const session of findSessions(store, flags, range)) found.push(session);
  if (found.length === 0) throw new CliError(`no session from ${range.from.toISOString()} to ${range.to.toISOString()} matches the selection`);
  return found.sort((a, b) => (a.summary.startedAt < b.summary.startedAt ? -1 : 1));
}

async function recordedCalls(store: RecordingStore, sessions: FoundSession[]): Promise<RecordedCall[]> {
  const perSession: RecordedCall[][] = [];
  for (const session of sessions) perSession.push(await sessionCalls(session.sessionId, sessionEvents(store, await storedSession(store, session.sessionId, session.indexes))));
  return mergeCalls(perSession);
}

/** `--step`: each call shown, and a line read from the terminal. */
function stepPrompt(): { confirm: NonNullable<ReplayOptions['confirm']>; close(): void } {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  return {
    confirm: async (call) => {
      const answer = (await terminal.question(`#${call.seq} ${describeApiCall(call.attributes)}: replay? [Y]es, [s]kip, [q]uit `)).trim().toLowerCase();
      return answer.startsWith('q') ? 'quit' : answer.startsWith('s') || answer.startsWith('n') ? 'skip' : 'yes';
    },
    close: () => terminal.close(),
  };
}

async function replayTo(kubeconfig: string, target: string, recorded: Recorded, flags: ReplayFlags): Promise<ReplayReport> {
  const until = flags.until === undefined ? undefined : Number(flags.until);
  if (until !== undefined && !Number.isInteger(until)) throw new CliError(`--until must be a seq number, got "${flags.until}"`);
  const client = new RawKubeClient(loadKubeconfig(kubeconfig));
  const prompt = flags.step ? stepPrompt() : undefined;
  try {
    if (!flags.iUnderstand && !(await hasSandboxMarker(client))) {
      throw new CliError(`${client.server} carries no kubegate sandbox marker (ConfigMap kube-public/kubegate-sandbox): replay writes recorded calls into it; pass --i-understand to replay there anyway`);
    }
    const started = Date.now();
    const plan = flags.asRecorded ? await planIdentities(recorded.store, client, recorded.sessions) : undefined;
    const actAs = plan && { actAs: (call: RecordedCall) => plan.sessions.get(call.sessionId) };
    const replay = new Replay(client, { dryRun: flags.dryRun ?? false, ...(until !== undefined ? { until } : {}), ...(prompt ? { confirm: prompt.confirm } : {}), ...actAs });
    const result = await replay.run(recorded.calls, (call) => flags.output !== 'json' && process.stdout.write(renderCall(call)));
    const sessions = recorded.sessions.map((session) => session.sessionId);
    return buildReport(result, { target, sessions, durationMs: Date.now() - started, ...(plan ? { identities: plan.identities } : {}) });
  } finally {
    prompt?.close();
    client.close();
  }
}

/** `--sandbox`: a fresh sandbox in a temp folder, stopped afterwards unless `--keep`. */
async function replayInSandbox(recorded: Recorded, flags: ReplayFlags): Promise<ReplayReport> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-replay-'));
  process.stderr.write(`starting a sandbox in ${dir}\n`);
  let keep = false;
  try {
    const state = await startSandboxProcess(dir, { onProgress: (message) => process.stderr.write(`  ${message}\n`) }).ready;
    const report = await replayTo(state.kubeconfig, `sandbox ${dir}`, recorded, flags);
    keep = flags.keep ?? false;
    if (keep) process.stderr.write(`the sandbox keeps running: eval "$(kubegate sandbox env --dir ${dir})"; stop it with kubegate sandbox down --dir ${dir}\n`);
    return report;
  } finally {
    if (!keep) {
      await stopSandbox(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function replay(store: RecordingStore, range: TimeRange, ids: string[], flags: ReplayFlags): Promise<void> {
  if (Boolean(flags.sandbox) === Boolean(flags.to)) throw new CliError('give one target: --sandbox (a fresh sandbox) or --to KUBECONFIG');
  const sessions = await selectSessions(store, range, ids, flags);
  const recorded: Recorded = { store, sessions, calls: await recordedCalls(store, sessions) };
  const report = flags.sandbox ? await replayInSandbox(recorded, flags) : await replayTo(flags.to!, flags.to!, recorded, flags);
  if (flags.output === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(renderSeeded(report) + renderSummary(report));
  if (report.totals.differed > 0) process.exitCode = 1;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay [sessions...]')
    .description('re-execute recorded sessions\' mutating calls in a sandbox and report what differs')
    .option('--store <url>', 'the recording store: s3://BUCKET/PREFIX or file://DIR (default $KUBEGATE_STORE)')
    .option('--subject <name>', 'replay the sessions of this subject')
    .option('--grant <name>', 'replay the sessions under this AccessGrant (name or namespace/name)')
    .option('--namespace <namespace>', 'replay the sessions that made requests in this namespace')
    .option('--since <duration>', 'sessions that started within this long (e.g. 2h)')
    .option('--from <time>', 'sessions that started at or after this RFC 3339 time')
    .option('--to-time <time>', 'sessions that started at or before this RFC 3339 time (--to names the target)')
    .option('--to <kubeconfig>', 'replay into the cluster of this kubeconfig (it must carry the kubegate sandbox marker)')
    .option('--sandbox', 'replay into a fresh sandbox, stopped afterwards')
    .option('--keep', 'with --sandbox: keep the sandbox running for inspection')
    .option('--i-understand', 'with --to: replay into a cluster without the sandbox marker')
    .option('--dry-run', 'send every call with dryRun=All (server-side), change nothing')
    .option('--step', 'confirm each call on the terminal')
    .option('--until <seq>', 'stop after the call recorded with this seq')
    .option('--as-recorded', "send each call as the identity the gateway sent it as, with its grant's bindings recreated from the access ledger (as admin where the ledger has none, which the report says)")
    .addOption(outputOption())
    .action((ids: string[], flags: ReplayFlags) => withStore({ store: flags.store, since: flags.since, from: flags.from, to: flags.toTime, output: flags.output }, (store, range) => replay(store, range, ids, flags)));
}
