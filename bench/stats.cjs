'use strict';
/** Small numeric helpers shared by the bench driver and runner. */

/** Nearest-rank percentile of an ascending-sorted array-like (p in 0..100). */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Median of plain numbers, ignoring NaN/undefined; NaN when nothing is left. */
function median(values) {
  const v = values.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Sorts a filled prefix of a Float64Array of latencies (ms) and returns p50/p99/max. */
function latencySummary(samples, count) {
  const s = samples.subarray(0, count).sort();
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: count ? s[count - 1] : NaN };
}

module.exports = { percentile, median, latencySummary };
