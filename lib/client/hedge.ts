import { errors } from '../errors';
import type { Next, SelectedNode } from '../selector/selector';
import { isRetryable } from './retry';

/**
 * The failbackup fail mode: a hedged call. The first attempt goes out at once; if it has not answered within `delay`
 * ms, the next attempt goes to another node while the first keeps running, and so on up to `attempts`. The first
 * answer wins and every other attempt still running is cancelled (its transport sends a cancel frame, so the losing
 * server stops working). A retryable failure sends the next attempt at once rather than waiting out the delay; a final
 * error (a handler's error, the deadline, a cancel) ends the call with that error.
 */

export interface HedgeInput {
  next: Next;
  /** Sends one attempt to `node`; marks the selector itself. `signal` aborts that attempt alone. */
  send(node: SelectedNode, attempt: number, signal: AbortSignal): Promise<unknown>;
  /** Most attempts in all (retries + 1). */
  attempts: number;
  /** ms to wait for an answer before sending the next attempt. */
  delay: number;
  /** The caller's own signal: aborting it cancels every attempt. */
  signal: AbortSignal | undefined;
  /** For the error when no node is left to try. */
  service: string;
}

export function hedged(h: HedgeInput): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const live = new Set<AbortController>();
    let launched = 0;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let lastError: unknown;

    const onAbort = () => {
      for (const c of live) c.abort();
    };
    const finish = (ok: boolean, value: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      h.signal?.removeEventListener('abort', onAbort);
      for (const c of live) c.abort();
      live.clear();
      if (ok) resolve(value);
      else reject(value);
    };
    const settleIfIdle = () => {
      if (!finished && live.size === 0) finish(false, lastError ?? errors.unavailable('phobos.client', `no node of ${h.service} left to try`));
    };
    const launch = (): void => {
      if (finished || launched >= h.attempts) return;
      const node = h.next();
      if (!node) return;
      const attempt = launched++;
      const controller = new AbortController();
      live.add(controller);
      h.send(node, attempt, controller.signal).then(
        (value) => {
          live.delete(controller);
          finish(true, value);
        },
        (err) => {
          live.delete(controller);
          if (finished) return;
          lastError = err;
          if (!isRetryable(err)) return finish(false, err);
          launch();
          settleIfIdle();
        },
      );
      clearTimeout(timer);
      if (launched < h.attempts) timer = setTimeout(launch, h.delay);
    };

    if (h.signal?.aborted) return reject(errors.cancelled('phobos.client', 'call aborted'));
    h.signal?.addEventListener('abort', onAbort, { once: true });
    launch();
    settleIfIdle();
  });
}
