import { bucketOf, Histogram, topOf } from '../../lib/cli/histogram';

/** The exact percentile of a sorted sample: the smallest value with at least p % of the sample at or below it. */
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

describe('bucketOf / topOf', () => {
  test('values below 256 have a bucket each', () => {
    for (let v = 0; v < 256; v++) {
      expect(bucketOf(v)).toBe(v);
      expect(topOf(v)).toBe(v);
    }
  });

  test('buckets are contiguous, ordered, and never wider than 1/128 of their values', () => {
    let previous = bucketOf(255);
    const gaps: number[] = [];
    for (let v = 256; v < 1 << 20; v++) {
      const b = bucketOf(v);
      if (b !== previous && b !== previous + 1) gaps.push(v);
      previous = b;
    }
    expect(gaps).toEqual([]);
    for (const v of [256, 257, 511, 512, 1000, 65_535, 65_536, 1_234_567, 2 ** 31 - 1, 2 ** 31, 2 ** 33 + 5]) {
      const top = topOf(bucketOf(v));
      expect(top).toBeGreaterThanOrEqual(v);
      expect((top - v) / v).toBeLessThan(1 / 128);
      // The next bucket starts right after this one's top.
      expect(bucketOf(top + 1)).toBe(bucketOf(v) + 1);
    }
  });
});

describe('Histogram', () => {
  test('empty: every statistic is 0', () => {
    const h = new Histogram();
    expect([h.count, h.min, h.max, h.mean, h.percentile(50), h.percentile(99)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('small values are exact: 1..100 gives p50 50, p90 90, p99 99, max 100', () => {
    const h = new Histogram();
    for (let v = 100; v >= 1; v--) h.record(v);
    expect(h.count).toBe(100);
    expect([h.percentile(50), h.percentile(90), h.percentile(99), h.percentile(100)]).toEqual([50, 90, 99, 100]);
    expect([h.min, h.max, h.mean]).toEqual([1, 100, 50.5]);
  });

  test('one value: every percentile is that value, not the top of its bucket', () => {
    const h = new Histogram();
    h.record(123_456);
    expect([h.percentile(1), h.percentile(50), h.percentile(100), h.max, h.min]).toEqual([123_456, 123_456, 123_456, 123_456, 123_456]);
  });

  test('percentiles of a skewed sample are within 0.8 % of the exact ones, and ordered', () => {
    // A deterministic long-tailed sample: mostly ~200 us, a tail to ~200 ms.
    let seed = 42;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) values.push(Math.round(100 + 200 * (-Math.log(1 - rand())) ** 3));
    const h = new Histogram();
    for (const v of values) h.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [50, 90, 99, 99.9]) {
      const want = exact(sorted, p);
      const got = h.percentile(p);
      expect(got).toBeGreaterThanOrEqual(want);
      expect((got - want) / want).toBeLessThan(1 / 128);
    }
    expect(h.max).toBe(sorted[sorted.length - 1]);
    expect(h.min).toBe(sorted[0]);
    const ps = [h.percentile(50), h.percentile(90), h.percentile(99), h.max];
    expect([...ps].sort((a, b) => a - b)).toEqual(ps);
  });

  test('fractions are rounded and negatives count as 0', () => {
    const h = new Histogram();
    h.record(-5);
    h.record(2.6);
    expect([h.min, h.max]).toEqual([0, 3]);
  });
});
