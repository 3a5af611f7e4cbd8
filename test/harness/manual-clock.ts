import type { Clock } from '../../src/runtime/reconciler.js';

/** Time that moves only when told, firing due timers in order. */
export class ManualClock implements Clock {
  private time = 0;
  private nextHandle = 1;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.timers.set(handle, { at: this.time + ms, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time on by `ms`, firing each due timer at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    while (this.fireNext(end));
    this.time = end;
  }

  /** As `advance`, awaiting `settle` after every timer (so async work a timer started can run). */
  async advanceSettling(ms: number, settle: () => Promise<unknown>): Promise<void> {
    const end = this.time + ms;
    while (this.fireNext(end)) await settle();
    this.time = end;
    await settle();
  }

  private fireNext(end: number): boolean {
    const due = [...this.timers].filter(([, timer]) => timer.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
    if (!due) return false;
    this.timers.delete(due[0]);
    this.time = due[1].at;
    due[1].callback();
    return true;
  }
}
