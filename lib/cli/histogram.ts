/**
 * A latency histogram in the HDR style: values (microseconds, whole numbers) below 2 × SUB are counted exactly; above,
 * each power of two is cut into SUB equal buckets, so a bucket is never wider than 1/SUB of its values. With SUB =
 * 128 a reported percentile is within 0.8 % of the true sample, the memory is a few kB whatever the count, and
 * recording is a shift and an increment. The largest and smallest values are kept exactly.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per power of two
const EXACT = SUB * 2; // values 0..255 have a bucket each

export class Histogram {
  private counts: number[] = [];
  private n = 0;
  private sum = 0;
  private lo = Infinity;
  private hi = 0;

  /** Records one value in microseconds (negative counts as 0, fractions are rounded). */
  record(us: number): void {
    const v = us > 0 ? Math.round(us) : 0;
    const i = bucketOf(v);
    while (this.counts.length <= i) this.counts.push(0);
    this.counts[i]++;
    this.n++;
    this.sum += v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
  }

  get count(): number {
    return this.n;
  }

  get max(): number {
    return this.n ? this.hi : 0;
  }

  get min(): number {
    return this.n ? this.lo : 0;
  }

  get mean(): number {
    return this.n ? this.sum / this.n : 0;
  }

  /**
   * The value at percentile `p` (0-100): the smallest recorded value such that p % of the values are at or below it,
   * reported as the top of its bucket (never above the true maximum). 0 when nothing was recorded.
   */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(Math.max(topOf(i), this.lo), this.hi);
    }
    return this.hi;
  }
}

/** The bucket index of a whole number >= 0. */
export function bucketOf(v: number): number {
  if (v < EXACT) return v;
  // v has `bits` significant bits; keep the top SUB_BITS + 1 of them (a number in SUB..2*SUB-1).
  const bits = v < 2 ** 32 ? 32 - Math.clz32(v) : Math.floor(Math.log2(v)) + 1;
  const shift = bits - SUB_BITS - 1;
  const top = Math.floor(v / 2 ** shift); // not `>>`: latencies past 2^31 us (36 min) must not wrap
  return EXACT + (shift - 1) * SUB + (top - SUB);
}

/** The largest value that falls into bucket `i`. */
export function topOf(i: number): number {
  if (i < EXACT) return i;
  const shift = Math.floor((i - EXACT) / SUB) + 1;
  const top = ((i - EXACT) % SUB) + SUB;
  return (top + 1) * 2 ** shift - 1;
}
