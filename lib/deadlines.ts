/**
 * Deadlines for many short-lived waits with one timer. A setTimeout per call costs about as much as an in-process
 * call itself, so waits go into a queue and a single timer is armed for the earliest deadline; when it fires it
 * expires what is due and re-arms for the next.
 *
 * Calls mostly finish in the order they started, so the queue is a FIFO with a moving head: finishing the oldest wait
 * pops it and every finished wait behind it at once; one finished out of order is only flagged and leaves when it
 * reaches the head or when the timer sweeps. Adding and finishing are O(1) amortized, and a finished call is not kept
 * reachable (holding thousands of them would push them into the old generation and make GC the biggest cost).
 */

export interface Expiring {
  /** Epoch ms at which `expire` runs unless the wait was finished first. */
  readonly deadline: number;
  /** True once finished or expired; owned by the timer. */
  done: boolean;
  expire(): void;
}

export class DeadlineTimer {
  private queue: (Expiring | undefined)[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  add(wait: Expiring): void {
    this.queue.push(wait);
    if (wait.deadline < this.timerAt) this.arm(wait.deadline);
  }

  /** The wait ended in time. Returns false when it had already expired (its owner must not answer twice). */
  finish(wait: Expiring): boolean {
    if (wait.done) return false;
    wait.done = true;
    const q = this.queue;
    while (this.head < q.length && q[this.head]!.done) q[this.head++] = undefined;
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** Waits neither finished nor expired. */
  get size(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.done) n++;
    return n;
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
    for (let i = this.head; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      if (w.done) continue;
      if (w.deadline <= now) due.push(w);
      else {
        keep.push(w);
        if (w.deadline < next) next = w.deadline;
      }
    }
    this.queue = keep;
    this.head = 0;
    for (const w of due) {
      w.done = true;
      w.expire();
    }
    if (next !== Infinity) this.arm(next);
  };
}

/**
 * `work`, or a rejection with `onTimeout()` once `ms` pass, the timer cleared either way. For waits on engine clients
 * that take no deadline of their own: the work itself is not cancelled, only no longer awaited.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)));
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
