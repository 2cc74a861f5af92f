import { statusText } from '../errors';
import type { Histogram } from './histogram';

/** What `phobos bench` shows: the live progress line and the final summary (text and JSON). Pure functions. */

export interface Progress {
  elapsedMs: number;
  /** The run's planned duration (-d), when it has one. */
  durationMs?: number;
  /** The planned number of calls (-n), when given. */
  count?: number;
  /** Calls finished so far, failed ones included. */
  done: number;
  errors: number;
}

/** How far the run is, 0..1: by time, by count, or the further of the two when both bound it. */
export function fraction(p: Progress): number {
  const byTime = p.durationMs ? p.elapsedMs / p.durationMs : 0;
  const byCount = p.count ? p.done / p.count : 0;
  return Math.min(1, Math.max(byTime, byCount, 0));
}

/** Calls per second so far. */
export function rate(done: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** `3.2s/10.0s` or `1200/5000 calls`, whichever bounds the run (time wins when both do). */
function position(p: Progress): string {
  if (p.durationMs) return `${seconds(p.elapsedMs)}/${seconds(p.durationMs)}`;
  if (p.count) return `${p.done}/${p.count} calls`;
  return seconds(p.elapsedMs);
}

/** The TTY line, redrawn in place: `[=========>          ] 3.2s/10.0s  12034 calls  3760 req/s  0 errors`. */
export function progressBar(p: Progress, width = 24): string {
  const filled = Math.floor(fraction(p) * width);
  const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
  return `[${bar}] ${progressText(p)}`;
}

/** The same facts without the bar, for logs and pipes. */
export function progressText(p: Progress): string {
  const calls = p.durationMs || !p.count ? `  ${p.done} calls` : '';
  return `${position(p)}${calls}  ${Math.round(rate(p.done, p.elapsedMs))} req/s  ${p.errors} error${p.errors === 1 ? '' : 's'}`;
}

export interface BenchSummary {
  service: string;
  endpoint: string;
  concurrency: number;
  /** Seconds from the first call to the last answer. */
  duration: number;
  total: number;
  ok: number;
  errors: number;
  /** total / duration. */
  rps: number;
  /** Milliseconds, every call counted (failed ones too). */
  latency: { min: number; mean: number; p50: number; p90: number; p99: number; max: number };
  /** Failed calls by error code: `{ "409": 25 }`. */
  errorsByCode: Record<string, number>;
  /** The detail of the first error seen for each code. */
  errorSamples: Record<string, string>;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(input: {
  service: string;
  endpoint: string;
  concurrency: number;
  elapsedMs: number;
  histogram: Histogram;
  ok: number;
  errorsByCode: Map<string, { count: number; sample: string }>;
}): BenchSummary {
  const h = input.histogram;
  const errorsByCode: Record<string, number> = {};
  const errorSamples: Record<string, string> = {};
  let errors = 0;
  for (const [code, e] of [...input.errorsByCode].sort(([a], [b]) => a.localeCompare(b))) {
    errorsByCode[code] = e.count;
    errorSamples[code] = e.sample;
    errors += e.count;
  }
  const total = input.ok + errors;
  const duration = input.elapsedMs / 1000;
  return {
    service: input.service,
    endpoint: input.endpoint,
    concurrency: input.concurrency,
    // Microseconds: a short -n run takes a few ms, and req/s must be checkable against total / duration.
    duration: Math.round(duration * 1e6) / 1e6,
    total,
    ok: input.ok,
    errors,
    rps: Math.round(rate(total, input.elapsedMs) * 10) / 10,
    latency: { min: ms(h.min), mean: ms(h.mean), p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) },
    errorsByCode,
    errorSamples,
  };
}

/** The human summary: one fact per line, errors by code last. */
export function formatSummary(s: BenchSummary): string {
  const l = s.latency;
  const f = (v: number) => `${v.toFixed(v < 1 ? 3 : v < 100 ? 2 : 1)}ms`;
  const lines = [
    `${s.service}.${s.endpoint}: ${s.total} calls in ${s.duration.toFixed(2)}s, ${s.concurrency} concurrent`,
    `  ok       ${s.ok}`,
    `  errors   ${s.errors}`,
    `  req/s    ${s.rps.toFixed(1)}`,
    `  latency  p50 ${f(l.p50)}  p90 ${f(l.p90)}  p99 ${f(l.p99)}  max ${f(l.max)}  (min ${f(l.min)}, mean ${f(l.mean)})`,
  ];
  const codes = Object.keys(s.errorsByCode);
  if (codes.length) {
    lines.push('  errors by code');
    for (const code of codes) {
      const name = /^\d+$/.test(code) ? ` ${statusText(Number(code))}` : '';
      lines.push(`    ${code}: ${s.errorsByCode[code]}  (${name.trim() || 'error'}: ${s.errorSamples[code]})`);
    }
  }
  return `${lines.join('\n')}\n`;
}
