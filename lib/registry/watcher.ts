import type { WatchEvent, Watcher } from './registry';

/**
 * A push-fed Watcher: producers `push` events, consumers iterate. Events queue while nobody is waiting (bounded, the
 * oldest dropped past `limit`), and `stop()` ends a pending `next()` at once. Registries share it.
 */
export class QueueWatcher implements Watcher {
  private readonly queue: WatchEvent[] = [];
  private waiting: ((r: IteratorResult<WatchEvent>) => void) | undefined;
  private stopped = false;

  constructor(
    private readonly onStop: () => void = () => {},
    private readonly limit = 10_000,
  ) {}

  push(event: WatchEvent): void {
    if (this.stopped) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: event, done: false });
      return;
    }
    if (this.queue.length >= this.limit) this.queue.shift();
    this.queue.push(event);
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.queue.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.stopped) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.length = 0;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
    this.onStop();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return this;
  }
}
