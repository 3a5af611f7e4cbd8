/**
 * Checks that event `seq` numbers run 0, 1, 2… without holes, and names what is wrong in ranges
 * ("event seq 57 missing", "events seq 100 to 199 out of order, found in segment 2 line 1 after seq 299")
 * rather than one line per event: a swapped pair of segments is one finding, not a thousand.
 */

type Report = (code: string, message: string) => void;

/** Holes remembered individually (so a late event can fill them); beyond this they are reported at once. */
const maxTrackedHoles = 100_000;

interface Run {
  code: 'seq-reordered' | 'seq-repeated';
  first: number;
  last: number;
  where: string;
  after: number;
}

export class SeqTracker {
  private expected = 0;
  private readonly holes = new Set<number>();
  private run: Run | undefined;

  /** True when `seq` comes at or after its place (its time can be compared with the previous event's). */
  see(seq: number, where: string, report: Report): boolean {
    if (seq >= this.expected) {
      this.flushRun(report);
      if (seq > this.expected) {
        if (this.holes.size + (seq - this.expected) <= maxTrackedHoles) for (let hole = this.expected; hole < seq; hole++) this.holes.add(hole);
        else report('seq-missing', `${range(this.expected, seq - 1)} missing (before ${where})`);
      }
      this.expected = seq + 1;
      return true;
    }
    const code = this.holes.delete(seq) ? 'seq-reordered' : 'seq-repeated';
    if (this.run && this.run.code === code && seq === this.run.last + 1) this.run.last = seq;
    else {
      this.flushRun(report);
      this.run = { code, first: seq, last: seq, where, after: this.expected - 1 };
    }
    return false;
  }

  finish(report: Report): void {
    this.flushRun(report);
    const holes = [...this.holes].sort((a, b) => a - b);
    for (let i = 0; i < holes.length; ) {
      let j = i;
      while (j + 1 < holes.length && holes[j + 1] === holes[j]! + 1) j++;
      report('seq-missing', `${range(holes[i]!, holes[j]!)} missing`);
      i = j + 1;
    }
  }

  private flushRun(report: Report): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    report(run.code, `${range(run.first, run.last)} ${run.code === 'seq-reordered' ? 'out of order' : 'repeated'}: found at ${run.where}, after seq ${run.after}`);
  }
}

function range(first: number, last: number): string {
  return first === last ? `event seq ${first}` : `events seq ${first} to ${last}`;
}
