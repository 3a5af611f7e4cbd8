/** The replay's report: totals, speed, and the text a person reads (`-o json` gives the same as data). */
import { renderDifference } from './diff.js';
import type { CallReport, ReplayResult } from './engine.js';
import type { ReplayIdentity } from './recorded-identity.js';

export interface ReplayTotals {
  reproduced: number;
  differed: number;
  skipped: number;
  /** Skipped calls by reason. */
  skippedBy: Record<string, number>;
}

export interface ReplayReport extends ReplayResult {
  target: string;
  sessions: string[];
  /** `--as-recorded`: how each grant's sessions were replayed, and why as admin where they were. */
  identities?: ReplayIdentity[];
  totals: ReplayTotals;
  /** Mutating calls re-sent, and how fast: over the whole replay (seeding and waits included), and over the time not spent waiting for controllers. */
  sent: number;
  durationMs: number;
  callsPerSecond: number;
  callsPerSecondExcludingWaits: number;
}

export function totals(calls: CallReport[]): ReplayTotals {
  const result: ReplayTotals = { reproduced: 0, differed: 0, skipped: 0, skippedBy: {} };
  for (const call of calls) {
    result[call.outcome]++;
    if (call.outcome === 'skipped') result.skippedBy[call.reason!] = (result.skippedBy[call.reason!] ?? 0) + 1;
  }
  return result;
}

export function buildReport(result: ReplayResult, context: { target: string; sessions: string[]; durationMs: number; identities?: ReplayIdentity[] }): ReplayReport {
  const sent = result.calls.filter((call) => call.outcome !== 'skipped').length;
  const rate = (ms: number) => (ms > 0 ? Math.round((sent / ms) * 100_000) / 100 : 0);
  return { ...context, ...result, totals: totals(result.calls), sent, callsPerSecond: rate(context.durationMs), callsPerSecondExcludingWaits: rate(context.durationMs - result.waitedMs) };
}

/** One call as a line (and its differences, indented). */
export function renderCall(call: CallReport): string {
  const statuses = call.replayedStatus === undefined ? `recorded ${call.recordedStatus ?? '-'}` : `recorded ${call.recordedStatus} replayed ${call.replayedStatus}`;
  const type = call.contentType ? ` [${call.contentType}]` : '';
  const owner = call.matchedByOwner ? ` (matched by owner ${call.matchedByOwner.owner}: ${call.matchedByOwner.name})` : '';
  const as = call.as ? ` as ${call.as}` : '';
  const lines = [`#${call.seq} ${call.call}${type}${as}  ${statuses}  ${call.outcome}${call.reason ? `: ${call.reason}` : ''}${owner}`];
  for (const difference of call.differences) lines.push(`    ${renderDifference(difference)}`);
  return lines.join('\n') + '\n';
}

export function renderSummary(report: ReplayReport): string {
  const lines: string[] = [];
  for (const stream of report.streams) lines.push(`#${stream.seq} ${stream.call}${stream.command ? ` [${stream.command.join(' ')}]` : ''}: not re-run (see ${stream.hint})`);
  const { reproduced, differed, skipped, skippedBy } = report.totals;
  lines.push(`${reproduced} reproduced, ${differed} differed, ${skipped} skipped`);
  for (const [reason, count] of Object.entries(skippedBy)) lines.push(`  skipped ${count}: ${reason}`);
  lines.push(`replayed ${report.sent} calls to ${report.target} ${sentAs[report.as]}${report.dryRun ? ' (server-side dry run)' : ''} in ${report.durationMs} ms (${report.callsPerSecond} calls/s; ${report.callsPerSecondExcludingWaits} calls/s without the ${report.waitedMs} ms waiting for controllers); seeded ${report.seeded.length} objects`);
  return lines.join('\n') + '\n';
}

const sentAs: Record<ReplayReport['as'], string> = {
  admin: 'as admin',
  recorded: 'as the recorded identities',
  mixed: 'as the recorded identities, and as admin for the grants the access ledger could not give',
};

export function renderSeeded(report: Pick<ReplayReport, 'seeded' | 'identities'>): string {
  const identities = (report.identities ?? []).map((identity) =>
    identity.as === 'admin'
      ? `grant ${identity.grant}: replayed as admin: ${identity.reason}\n`
      : `grant ${identity.grant}: replayed as ${identity.user} (groups ${identity.groups!.join(', ')}); from the access ledger: ${identity.bindings!.map((b) => `${b.path} (HTTP ${b.status})`).join(', ')}\n`,
  );
  return identities.join('') + report.seeded.map((object) => `seeded ${object.path} (HTTP ${object.status})\n`).join('');
}
