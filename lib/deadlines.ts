/**
 * Deadlines for many short-lived waits with one timer. A setTimeout per call costs about as much as an in-process
 * call itself, so waits go into an array and a single timer is armed for the earliest deadline; when it fires it
 * expires what is due and re-arms for the next. A wait that finishes in time is only flagged (`done`), not searched
 * for: flagged waits are dropped when the timer fires or when the array has grown past a compaction threshold, so
 * adding and finishing are O(1) and the array holds little more than the waits still pending.
 */

export interface Expiring {
  /** Epoch ms at which `expire` runs unless `done` was set first. */
  readonly deadline: number;
  /** Set by the owner when the wait finished in time; an expired wait is never looked at again. */
  done: boolean;
  expire(): void;
}

/** Past this many entries since the last sweep, finished waits are swept out even if no timer fired. */
const COMPACT_EVERY = 4096;

export class DeadlineTimer {
  private waits: Expiring[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  add(wait: Expiring): void {
    this.waits.push(wait);
    if (this.waits.length >= COMPACT_EVERY && (this.waits.length & (COMPACT_EVERY - 1)) === 0) this.compact();
    if (wait.deadline < this.timerAt) this.arm(wait.deadline);
  }

  /** Waits not yet finished nor expired (compacts first, so it is exact). */
  get size(): number {
    this.compact();
    return this.waits.length;
  }

  private compact(): void {
    this.waits = this.waits.filter((w) => !w.done);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(1, at - Date.now()));
    // Pending work keeps the process alive by other means; a timer alone must not.
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    const due: Expiring[] = [];
    const keep: Expiring[] = [];
    for (const w of this.waits) {
      if (w.done) continue;
      if (w.deadline <= now) due.push(w);
      else {
        keep.push(w);
        if (w.deadline < next) next = w.deadline;
      }
    }
    this.waits = keep;
    for (const w of due) {
      w.done = true;
      w.expire();
    }
    if (next !== Infinity) this.arm(next);
  };
}
