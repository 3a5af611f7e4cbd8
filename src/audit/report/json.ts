/** `-o json`: one JSON document — the head, the summary, then the grants with their sessions and calls. */
import type { SessionReport } from './session-report.js';
import type { GrantSection, ReportHead, ReportSummary, ReportWriter } from './report.js';
import { DeferredBody, type Sink } from './sink.js';

export class JsonReport implements ReportWriter {
  private readonly body = new DeferredBody();
  private grants = 0;
  private sessions = 0;

  constructor(
    private readonly out: Sink,
    private readonly head: ReportHead,
  ) {}

  async grant(section: GrantSection): Promise<void> {
    await this.body.sink.write(`${this.grants++ === 0 ? '\n' : '\n]},\n'}{"grant":${JSON.stringify(section)},"sessions":[`);
    this.sessions = 0;
  }

  async session(report: SessionReport): Promise<void> {
    await this.body.sink.write(`${this.sessions++ === 0 ? '\n' : ',\n'}${JSON.stringify(report)}`);
  }

  async end(summary: ReportSummary): Promise<void> {
    const head = `{"report":${JSON.stringify(this.head)},\n"summary":${JSON.stringify(summary)},\n"grants":[`;
    await this.body.copyTo(this.out, head, this.grants === 0 ? ']}\n' : '\n]}\n]}\n');
  }
}
