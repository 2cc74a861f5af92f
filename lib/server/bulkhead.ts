import type { Context } from '../context';
import { errors, RpcError } from '../errors';
import type { HandlerFn } from './endpoint';

/**
 * A bulkhead caps how many requests one endpoint runs at once, so a slow endpoint cannot take every resource of the
 * process with it. Requests past the cap wait in a bounded FIFO queue; when the queue is full too, the request is
 * refused at once with 429 rather than piling up. A queued request whose caller gives up (deadline or cancel) leaves
 * the queue with that error instead of running for nobody.
 */

export interface BulkheadOptions {
  /** Requests running at once. */
  concurrency: number;
  /** Requests allowed to wait for a slot (default 0: refuse at once when every slot is busy). */
  queue?: number;
}

interface Waiting {
  request: unknown;
  ctx: Context;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  onAbort: () => void;
  gone: boolean;
}

export function bulkhead(options: BulkheadOptions, endpointId: string, next: HandlerFn): HandlerFn {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const queueLimit = Math.max(0, Math.floor(options.queue ?? 0));
  let running = 0;
  const queue: Waiting[] = [];

  const release = (): void => {
    running--;
    while (running < concurrency && queue.length) {
      const w = queue.shift()!;
      if (w.gone) continue;
      w.ctx.signal.removeEventListener('abort', w.onAbort);
      // Its deadline may have passed a moment ago, before the abort event got its turn: nobody waits for it any more.
      if (w.ctx.remaining() <= 0) {
        w.reject(errors.timeout(endpointId, 'deadline passed while waiting in the bulkhead queue'));
        continue;
      }
      running++;
      w.resolve(run(w.request, w.ctx));
    }
  };

  const run = (request: unknown, ctx: Context): unknown => {
    let result: unknown;
    try {
      result = next(request, ctx);
    } catch (err) {
      release();
      throw err;
    }
    if (!(result instanceof Promise)) {
      release();
      return result;
    }
    return result.then(
      (value) => {
        release();
        return value;
      },
      (err) => {
        release();
        throw err;
      },
    );
  };

  return (request, ctx) => {
    if (running < concurrency) {
      running++;
      return run(request, ctx);
    }
    if (queue.length >= queueLimit) {
      return Promise.reject(errors.tooMany(endpointId, `bulkhead full: ${concurrency} running and ${queueLimit} waiting`));
    }
    if (ctx.signal.aborted) return Promise.reject(errors.timeout(endpointId, 'deadline passed before a bulkhead slot was free'));
    return new Promise((resolve, reject) => {
      const w: Waiting = { request, ctx, resolve, reject, gone: false, onAbort: () => undefined };
      w.onAbort = () => {
        w.gone = true;
        const reason = ctx.signal.reason;
        reject(reason instanceof RpcError ? reason : errors.timeout(endpointId, 'deadline passed while waiting in the bulkhead queue'));
      };
      // Touching the signal arms the deadline timer: only queued requests pay for it.
      ctx.signal.addEventListener('abort', w.onAbort, { once: true });
      queue.push(w);
    });
  };
}
