/**
 * Deadlines for many short-lived waits with one timer. A setTimeout per call costs about as much as an in-process
 * call itself, so waits are kept in a set and a single timer is armed for the earliest deadline; when it fires it
 * expires what is due and re-arms for the next. Adding is O(1) (the timer moves only when a wait is due sooner than
 * any other), removing is O(1); only a firing timer walks the set, and the set holds only waits still pending.
 */

export interface Expiring {
  /** Epoch ms at which `expire` runs unless the wait was removed first. */
  readonly deadline: number;
  expire(): void;
}

export class DeadlineTimer {
  private readonly waits = new Set<Expiring>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  add(wait: Expiring): void {
    this.waits.add(wait);
    if (wait.deadline < this.timerAt) this.arm(wait.deadline);
  }

  /** Forget a wait that finished in time. The timer stays armed: it finds nothing due and re-arms or stops. */
  remove(wait: Expiring): void {
    this.waits.delete(wait);
  }

  get size(): number {
    return this.waits.size;
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
    for (const w of this.waits) {
      if (w.deadline <= now) due.push(w);
      else if (w.deadline < next) next = w.deadline;
    }
    for (const w of due) {
      this.waits.delete(w);
      w.expire();
    }
    if (next !== Infinity) this.arm(next);
  };
}
