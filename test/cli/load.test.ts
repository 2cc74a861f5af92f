import { RpcError } from '../../lib/errors';
import { runLoad } from '../../lib/cli/load';
import type { Progress } from '../../lib/cli/bench-report';

/** The closed loop itself, with calls that are plain functions (the multi-process tests drive it over the network). */

describe('runLoad', () => {
  test('-n: exactly count calls, never more than `concurrency` at once, errors by code', async () => {
    let running = 0;
    let peak = 0;
    let n = 0;
    const call = async () => {
      const i = ++n;
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      if (i % 4 === 0) throw new RpcError('t', 429, `busy ${i}`);
      if (i % 10 === 0) throw new Error('plain failure');
    };
    const r = await runLoad({ call, concurrency: 5, count: 40 });
    expect(n).toBe(40);
    expect(peak).toBe(5);
    expect(r.histogram.count).toBe(40);
    // 4, 8, ..., 40 are 429 (10 of them); 10 and 30 are plain errors (20 and 40 were already 429).
    expect(Object.fromEntries(r.errorsByCode)).toEqual({
      '429': { count: 10, sample: 'busy 4' },
      error: { count: 2, sample: 'plain failure' },
    });
    expect(r.ok).toBe(28);
  });

  test('fewer calls than callers: only as many callers as calls', async () => {
    let n = 0;
    const r = await runLoad({ call: async () => void n++, concurrency: 64, count: 3 });
    expect([n, r.ok]).toEqual([3, 3]);
  });

  test('calls that fail without I/O still let the clock, the ticks and the abort signal run', async () => {
    const ticks: Progress[] = [];
    const started = performance.now();
    const r = await runLoad({ call: () => Promise.reject(new RpcError('t', 503, 'open')), concurrency: 4, durationMs: 300, tickMs: 50, onTick: (p) => ticks.push(p) });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(1000);
    expect(r.ok).toBe(0);
    expect(r.errorsByCode.get('503')!.count).toBe(r.histogram.count);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    // The last tick is the final state.
    expect(ticks[ticks.length - 1]).toMatchObject({ done: r.histogram.count, errors: r.histogram.count, durationMs: 300 });

    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const t0 = performance.now();
    await runLoad({ call: () => Promise.resolve(), concurrency: 2, durationMs: 60_000, signal: abort.signal });
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
