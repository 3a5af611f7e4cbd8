/**
 * `-o html`: one self-contained page (inline CSS; no script, font or image fetched) a compliance officer
 * opens, reads and prints: the summary on top, then each grant (who asked, why, who approved, when it was
 * active) starting a new printed page, and each of its sessions with its verification result and the
 * calls that matter. Printing keeps a session's table rows whole and repeats table headers on each page.
 */
import type { ReportCall, SessionReport } from './session-report.js';
import type { GrantSection, ReportHead, ReportSummary, ReportWriter } from './report.js';
import { DeferredBody, type Sink } from './sink.js';
import { describeSigning } from '../evidence-check.js';

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => entities[c]!);

const style = `
:root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1b1f24; }
body { margin: 0 auto; max-width: 1200px; padding: 24px 32px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 0 0 8px; } h3 { font-size: 15px; margin: 0 0 6px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: .9em; }
.meta { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f3f5f7; font-weight: 600; }
.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
.summary .alert td { background: #ffebe9; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 10px; }
dt { color: #57606a; } dd { margin: 0; overflow-wrap: anywhere; }
section.grant { border-top: 3px solid #24292f; margin-top: 28px; padding-top: 12px; }
article.session { border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; margin: 12px 0; }
article.tampered { border: 2px solid #cf222e; background: #fff8f7; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700; letter-spacing: .03em; vertical-align: 1px; }
.badge.intact { background: #dafbe1; color: #116329; } .badge.open { background: #fff8c5; color: #7d4e00; } .badge.tampered { background: #cf222e; color: #fff; }
.kind { display: inline-block; white-space: nowrap; padding: 0 5px; margin: 1px 2px 1px 0; border-radius: 4px; font-size: 11.5px; background: #eaeef2; }
.kind.denied, .kind.escalation { background: #ffebe9; color: #a40e26; } .kind.approval-gated { background: #fff8c5; color: #7d4e00; }
ul.problems { color: #a40e26; margin: 4px 0 8px; padding-left: 20px; }
.none { color: #57606a; font-style: italic; }
col.time { width: 8.5em; } col.kinds { width: 9.5em; } col.decision { width: 15em; } col.status { width: 5em; }
td.time { white-space: pre-line; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  :root { font-size: 11px; } body { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.grant { break-before: page; border-top: none; margin-top: 0; }
  article.session { break-inside: avoid-page; }
  thead { display: table-header-group; } tr, dl, h2, h3 { break-inside: avoid; } h2, h3 { break-after: avoid; }
}`;

const subjectText = (subject: SessionReport['subject']) => `${subject.kind} ${subject.namespace ? `${subject.namespace}/` : ''}${subject.name}`;
const row = (label: string, value: string) => `<dt>${escapeHtml(label)}</dt><dd>${value}</dd>`;
const text = (value: string | undefined) => (value ? escapeHtml(value) : '<span class="none">unknown</span>');

function summaryTable(summary: ReportSummary): string {
  const rows: [string, number, boolean][] = [
    ['Grants', summary.grants, false], ['Sessions', summary.sessions, false], ['Sessions intact', summary.intact, false],
    ['Sessions still open', summary.open, false], ['Sessions TAMPERED', summary.tampered, summary.tampered > 0],
    ...(summary.missing.length > 0 ? [['Sessions MISSING from the store', summary.missing.length, true] as [string, number, boolean]] : []),
    ['API requests (all)', summary.requests, false], ['Mutating calls', summary.mutating, false], ['Denied requests', summary.denied, false],
    ['Approval-gated requests', summary.approvalGated, false], ['Exec / attach', summary.exec, false], ['Escalations', summary.escalations, summary.escalations > 0],
  ];
  const body = rows.map(([label, count, alert]) => `<tr${alert ? ' class="alert"' : ''}><th scope="row">${label}</th><td class="num">${count}</td></tr>`).join('');
  const missing = summary.missing.map((session) => `<article class="session tampered"><h3>Session <span class="mono">${escapeHtml(session.sessionId)}</span> <span class="badge tampered">MISSING</span></h3><ul class="problems">${session.problems.map((problem) => `<li>${escapeHtml(problem)}</li>`).join('')}</ul></article>`).join('');
  return `<section class="summary"><h2>Summary</h2><table style="max-width:420px"><tbody>${body}</tbody></table>${missing}</section>`;
}

function decisions(section: GrantSection): string {
  const record = section.record;
  if (!record) return '<p class="none">No grant source given (--kubeconfig): requester, reason and approvals are not in the recordings.</p>';
  const missing = [record.missing, ...(record.problems ?? []).map((problem) => `the ledger chain is broken: ${problem}`)].filter(Boolean).map((line) => `<p class="none">${escapeHtml(line!)}</p>`).join('');
  if (record.decisions.length === 0) return `${missing}<p class="none">No approval decisions recorded for this grant.</p>`;
  const rows = record.decisions.map((d) => `<tr><td>${escapeHtml(d.decision)}</td><td>${escapeHtml(d.by)}</td><td>${text(d.at)}</td><td>${escapeHtml(d.reason)}${d.pullRequest ? ` (<span class="mono">${escapeHtml(d.pullRequest)}</span>)` : ''}</td></tr>`).join('');
  return `${missing}<table><thead><tr><th style="width:7em">Decision</th><th>Approver</th><th style="width:15em">At</th><th>Reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function grantHtml(section: GrantSection): string {
  const record = section.record;
  const active = record?.activatedAt ? `${escapeHtml(record.activatedAt)} → ${text(record.revokedAt ?? record.expiresAt)}${record.revokedAt ? ' (revoked)' : ''}` : '<span class="none">not known from the grant source</span>';
  return `<section class="grant"><h2>Grant <span class="mono">${escapeHtml(`${section.namespace}/${section.name}`)}</span></h2><dl>${[
    row('Subject', escapeHtml(subjectText(section.subject))),
    row('Requester', text(record?.requester)),
    row('Reason', text(record?.reason)),
    row('Phase', `${text(record?.phase)}${record?.deletedAt ? ` (the AccessGrant was deleted ${escapeHtml(record.deletedAt)})` : ''}`),
    row('Active', active),
    row('Sessions', `${section.sessions}, from ${escapeHtml(section.sessionsFrom)} to ${section.sessionsTo ? escapeHtml(section.sessionsTo) : 'still open'}`),
    row('Policy', `<span class="mono">${escapeHtml(section.policy)}</span>`),
    row('Grant uid', `<span class="mono">${escapeHtml(section.uid)}</span>`),
  ].join('')}</dl><h3>Approvals</h3>${decisions(section)}`;
}

function callRow(call: ReportCall): string {
  const kinds = call.kinds.map((kind) => `<span class="kind ${kind}">${kind}</span>`).join('');
  const what = `<span class="mono">${escapeHtml(call.call)}</span>${call.command ? `<br>command: <span class="mono">${escapeHtml(call.command.join(' '))}</span>` : ''}${call.escalation ? `<br>escalation: ${escapeHtml(call.escalation)}` : ''}`;
  const decision = `${text(call.decision)}${call.rule ? ` <span class="mono">(${escapeHtml(call.rule)})</span>` : ''}${call.approval ? `<br>approved by ApprovalRequest <span class="mono">${escapeHtml(call.approval)}</span>${call.approvers?.length ? ` (${escapeHtml(call.approvers.join(', '))})` : ''}` : ''}`;
  return `<tr><td class="mono time">${escapeHtml(call.time.replace('T', '\n').replace('Z', ''))}</td><td>${kinds}</td><td>${what}</td><td>${decision}</td><td>${call.status ?? (call.kinds.includes('exec') ? 'stream' : '—')}</td></tr>`;
}

function sessionHtml(report: SessionReport): string {
  const { verification: v } = report;
  const problems = v.problems.length > 0 ? `<ul class="problems">${v.problems.map((problem) => `<li>${escapeHtml(problem)}</li>`).join('')}</ul>` : '';
  const calls = report.calls.length === 0
    ? '<p class="none">No mutating, denied, approval-gated, exec or escalating call.</p>'
    : `<table><colgroup><col class="time"><col class="kinds"><col><col class="decision"><col class="status"></colgroup><thead><tr><th>Time (UTC)</th><th>Why listed</th><th>Call</th><th>Decision</th><th>Status</th></tr></thead><tbody>${report.calls.map(callRow).join('')}</tbody></table>`;
  const c = report.counts;
  return `<article class="session ${v.status}"><h3>Session <span class="mono">${escapeHtml(report.sessionId)}</span> <span class="badge ${v.status}">${v.status.toUpperCase()}</span></h3><dl>${[
    row('Started', `${escapeHtml(report.startedAt)}${report.endedAt ? `, ended ${escapeHtml(report.endedAt)}` : ', still open'}`),
    row('Client', escapeHtml([report.client.command, report.client.userAgent, report.client.address].filter(Boolean).join(' · ') || 'unknown')),
    row('Verification', `${v.status}${v.status === 'tampered' ? '' : ', hash chain intact'}; ${escapeHtml(v.lock)}; ${escapeHtml(describeSigning(v.signing))}`),
    row('Requests', `${c.requests} in all: ${c.mutating} mutating, ${c.denied} denied, ${c.approvalGated} approval-gated, ${c.exec} exec, ${c.escalations} escalations`),
  ].join('')}</dl>${problems}${calls}</article>`;
}

export class HtmlReport implements ReportWriter {
  private readonly body = new DeferredBody();
  private grants = 0;

  constructor(
    private readonly out: Sink,
    private readonly head: ReportHead,
  ) {}

  async grant(section: GrantSection): Promise<void> {
    await this.body.sink.write(`${this.grants++ > 0 ? '</section>\n' : ''}${grantHtml(section)}\n`);
  }

  async session(report: SessionReport): Promise<void> {
    await this.body.sink.write(`${sessionHtml(report)}\n`);
  }

  async end(summary: ReportSummary): Promise<void> {
    const { head } = this;
    const filter = Object.entries(head.filter).filter(([, value]) => value).map(([key, value]) => `${key} ${value}`).join(', ');
    const title = `kubegate compliance report ${head.from} – ${head.to}`;
    const top = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${style}</style></head><body>
<header><h1>Compliance report</h1><p class="meta">Sessions started from <b>${escapeHtml(head.from)}</b> to <b>${escapeHtml(head.to)}</b>${filter ? ` (${escapeHtml(filter)})` : ''} · store <span class="mono">${escapeHtml(head.store)}</span> · grants from ${head.grantSource ? escapeHtml(head.grantSource) : 'the recordings alone'} · generated ${escapeHtml(head.generatedAt)} by kubegate</p></header>
${summaryTable(summary)}
${this.grants === 0 ? '<p class="none">No session in this window.</p>\n' : ''}`;
    await this.body.copyTo(this.out, top, `${this.grants > 0 ? '</section>\n' : ''}</body></html>\n`);
  }
}
