/** The replay's report: totals, speed, and the text a person reads (`-o json` gives the same as data). */
import { renderDifference } from './diff.js';
import type { CallReport, ReplayResult } from './engine.js';

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

export function buildReport(result: ReplayResult, context: { target: string; sessions: string[]; durationMs: number }): ReplayReport {
  const sent = result.calls.filter((call) => call.outcome !== 'skipped').length;
  const rate = (ms: number) => (ms > 0 ? Math.round((sent / ms) * 100_000) / 100 : 0);
  return { ...context, ...result, totals: totals(result.calls), sent, callsPerSecond: rate(context.durationMs), callsPerSecondExcludingWaits: rate(context.durationMs - result.waitedMs) };
}

/** One call as a line (and its differences, indented). */
export function renderCall(call: CallReport): string {
  const statuses = call.replayedStatus === undefined ? `recorded ${call.recordedStatus ?? '-'}` : `recorded ${call.recordedStatus} replayed ${call.replayedStatus}`;
  const type = call.contentType ? ` [${call.contentType}]` : '';
  const owner = call.matchedByOwner ? ` (matched by owner ${call.matchedByOwner.owner}: ${call.matchedByOwner.name})` : '';
  const lines = [`#${call.seq} ${call.call}${type}  ${statuses}  ${call.outcome}${call.reason ? `: ${call.reason}` : ''}${owner}`];
  for (const difference of call.differences) lines.push(`    ${renderDifference(difference)}`);
  return lines.join('\n') + '\n';
}

export function renderSummary(report: ReplayReport): string {
  const lines: string[] = [];
  for (const stream of report.streams) lines.push(`#${stream.seq} ${stream.call}${stream.command ? ` [${stream.command.join(' ')}]` : ''}: not re-run (see ${stream.hint})`);
  const { reproduced, differed, skipped, skippedBy } = report.totals;
  lines.push(`${reproduced} reproduced, ${differed} differed, ${skipped} skipped`);
  for (const [reason, count] of Object.entries(skippedBy)) lines.push(`  skipped ${count}: ${reason}`);
  lines.push(`replayed ${report.sent} calls to ${report.target} as admin${report.dryRun ? ' (server-side dry run)' : ''} in ${report.durationMs} ms (${report.callsPerSecond} calls/s; ${report.callsPerSecondExcludingWaits} calls/s without the ${report.waitedMs} ms waiting for controllers); seeded ${report.seeded.length} objects`);
  return lines.join('\n') + '\n';
}

export function renderSeeded(report: Pick<ReplayResult, 'seeded'>): string {
  return report.seeded.map((object) => `seeded ${object.path} (HTTP ${object.status})\n`).join('');
}
