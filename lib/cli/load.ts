import { RpcError } from '../errors';
import type { Progress } from './bench-report';
import { Histogram } from './histogram';

/**
 * The closed loop behind `phobos bench`: `concurrency` callers, each making its next call as soon as the previous one
 * answered, until the duration passes, `count` calls were made, or the signal aborts. Every call's latency goes into
 * one histogram; failures are counted by error code.
 */

export interface LoadOptions {
  call: () => Promise<unknown>;
  concurrency: number;
  durationMs?: number;
  count?: number;
  signal?: AbortSignal;
  /** Called every `tickMs` with the run so far (the progress display). */
  onTick?: (p: Progress) => void;
  tickMs?: number;
}

export interface LoadResult {
  histogram: Histogram;
  ok: number;
  errorsByCode: Map<string, { count: number; sample: string }>;
  /** From the first call to the last answer. */
  elapsedMs: number;
}

/**
 * A caller whose calls all settle without I/O (every one refused at once, say) would never give timers a turn; it
 * yields to the event loop at least this often so the clock, the progress display and SIGINT still run.
 */
const YIELD_EVERY_MS = 20;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const histogram = new Histogram();
  const errorsByCode = new Map<string, { count: number; sample: string }>();
  let ok = 0;
  let failed = 0;
  let issued = 0;
  const start = performance.now();
  const endAt = o.durationMs !== undefined ? start + o.durationMs : Infinity;
  const more = () => !o.signal?.aborted && (o.count === undefined || issued < o.count) && performance.now() < endAt;
  const progress = (): Progress => ({
    elapsedMs: performance.now() - start,
    durationMs: o.durationMs,
    count: o.count,
    done: ok + failed,
    errors: failed,
  });
  const ticker = o.onTick ? setInterval(() => o.onTick!(progress()), o.tickMs ?? 100) : undefined;

  const caller = async () => {
    let lastYield = performance.now();
    while (more()) {
      issued++;
      const t0 = performance.now();
      try {
        await o.call();
        ok++;
      } catch (err) {
        failed++;
        const e = err instanceof RpcError ? err : undefined;
        const code = e ? String(e.code) : 'error';
        const entry = errorsByCode.get(code);
        if (entry) entry.count++;
        else errorsByCode.set(code, { count: 1, sample: e?.detail ?? (err as Error)?.message ?? String(err) });
      }
      const t1 = performance.now();
      histogram.record((t1 - t0) * 1000);
      if (t1 - lastYield >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  };
  const callers = Math.max(1, Math.min(o.concurrency, o.count ?? Infinity));
  try {
    await Promise.all(Array.from({ length: callers }, caller));
  } finally {
    clearInterval(ticker);
  }
  const elapsedMs = performance.now() - start;
  o.onTick?.({ ...progress(), elapsedMs });
  return { histogram, ok, errorsByCode, elapsedMs };
}
