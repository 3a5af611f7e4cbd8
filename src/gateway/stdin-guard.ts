/**
 * Interactive stdin checked line by line against the policy's command rules: what a person or agent
 * types into a shell under exec or attach is held to the same rules as the exec command itself. Bytes
 * are gathered until a line ends (CR or LF); a line longer than `maxLineBytes` is checked as it stands.
 */
import type { PolicyEngine, PolicyDecision } from './policy-engine.js';
import type { RequestAttributes } from './request-attributes.js';

export class StdinGuard {
  private pending = '';

  constructor(
    private readonly engine: PolicyEngine,
    private readonly attributes: RequestAttributes,
    private readonly maxLineBytes = 4096,
  ) {}

  /** The refusing decision when `bytes` completes a forbidden line; undefined otherwise. */
  check(bytes: Buffer): { rule: string; message: string } | undefined {
    this.pending += bytes.toString('utf8');
    const lines = this.pending.split(/[\r\n]/);
    this.pending = lines.pop() ?? '';
    if (this.pending.length > this.maxLineBytes) lines.push(this.pending.slice(0, this.maxLineBytes));
    for (const line of lines) {
      const decision: PolicyDecision | undefined = line.trim() ? this.engine.matchesCommandLine(line, this.attributes) : undefined;
      if (decision && decision.action !== 'Allow' && decision.action !== 'Mask') return { rule: decision.rule ?? '(default)', message: decision.message };
    }
    return undefined;
  }
}
