import { silentLogger, type Logger } from '../observe/logger';
import type { WatchEvent, Watcher } from './registry';

/**
 * A Watcher fed by push(), shared by registries: events (optionally only those of one service) queue until next()
 * takes them; stop() ends the iteration and resolves a pending next() with done, so `for await` loops finish
 * instead of hanging when the registry closes.
 */
export class QueueWatcher implements Watcher {
  /** A consumer that stopped reading must not grow memory forever; past this, the oldest events are dropped. */
  static readonly MAX_QUEUED = 10000;

  private readonly queue: WatchEvent[] = [];
  private waiting: ((r: IteratorResult<WatchEvent>) => void) | undefined;
  private stopped = false;
  private warned = false;

  constructor(
    readonly service: string | undefined,
    private readonly onStop: (w: QueueWatcher) => void = () => {},
    private readonly logger: Logger = silentLogger,
  ) {}

  push(event: WatchEvent): void {
    if (this.stopped) return;
    if (this.service !== undefined && event.service.name !== this.service) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: event, done: false });
      return;
    }
    if (this.queue.length >= QueueWatcher.MAX_QUEUED) {
      this.queue.shift();
      if (!this.warned) this.logger.warn('registry watcher is not being read; dropping its oldest events');
      this.warned = true;
    }
    this.queue.push(event);
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const event = this.queue.shift();
    if (event) return Promise.resolve({ value: event, done: false });
    if (this.stopped) return Promise.resolve({ value: undefined, done: true });
    // One reader at a time is the iterator protocol; a second concurrent next() replaces the first as the waiter.
    this.waiting?.({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.length = 0;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
    this.onStop(this);
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    // Called by `for await` on break/throw, so leaving a loop early also unsubscribes.
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return this;
  }
}
