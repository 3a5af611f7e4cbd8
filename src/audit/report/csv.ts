/**
 * `-o csv`: one row per reported call — a flat table for spreadsheets (RFC 4180: CRLF line ends, a cell
 * with a comma, quote or line end quoted, quotes doubled). A session with no reported call still gets one
 * row, so its verification result is in the table. A cell that a spreadsheet would run as a formula (it
 * starts with = + - @, or a tab or carriage return) is prefixed with a single quote. A session the
 * checkpoint log names but the store lost is a last row, `tampered`, with what verify says of it.
 */
import type { ReportCall, SessionReport } from './session-report.js';
import type { ReportSummary, ReportWriter } from './report.js';
import type { Sink } from './sink.js';

export const csvColumns = [
  'session_id', 'session_verification', 'session_problems', 'object_lock', 'subject', 'grant', 'policy', 'session_started_at',
  'time', 'request_id', 'kinds', 'call', 'method', 'verb', 'api_group', 'resource', 'subresource', 'namespace', 'name',
  'decision', 'rule', 'approval', 'approvers', 'escalation', 'status', 'command', 'message',
] as const;

/** One cell, guarded and quoted. */
export function csvCell(value: string | number | undefined): string {
  let text = value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvRow = (cells: (string | number | undefined)[]) => `${cells.map(csvCell).join(',')}\r\n`;

function callCells(call: ReportCall | undefined): (string | number | undefined)[] {
  if (!call) return Array(csvColumns.length - 8).fill(undefined);
  return [call.time, call.requestId, call.kinds.join(' '), call.call, call.method, call.verb, call.apiGroup, call.resource, call.subresource, call.namespace, call.name, call.decision, call.rule, call.approval, call.approvers?.join(' '), call.escalation, call.status, call.command?.join(' '), call.message];
}

export class CsvReport implements ReportWriter {
  private started = false;

  constructor(private readonly out: Sink) {}

  async grant(): Promise<void> {
    await this.header();
  }

  async session(report: SessionReport): Promise<void> {
    const subject = `${report.subject.kind}/${report.subject.namespace ? `${report.subject.namespace}/` : ''}${report.subject.name}`;
    const session = [report.sessionId, report.verification.status, report.verification.problems.join('; '), report.verification.lock, subject, `${report.grant.namespace}/${report.grant.name}`, `${report.policy.namespace}/${report.policy.name}@${report.policy.version}`, report.startedAt];
    const calls = report.calls.length > 0 ? report.calls : [undefined];
    for (const call of calls) await this.out.write(csvRow([...session, ...callCells(call)]));
  }

  async end(summary: ReportSummary): Promise<void> {
    await this.header();
    for (const session of summary.missing) await this.out.write(csvRow([session.sessionId, 'tampered', session.problems.join('; '), undefined, undefined, undefined, undefined, undefined, ...callCells(undefined)]));
  }

  private async header(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.out.write(csvRow([...csvColumns]));
  }
}
