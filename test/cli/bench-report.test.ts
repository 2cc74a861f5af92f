import { formatSummary, fraction, progressBar, progressText, summarize } from '../../lib/cli/bench-report';
import { Histogram } from '../../lib/cli/histogram';

describe('progress display', () => {
  test('by time: the bar fills with elapsed/duration', () => {
    const p = { elapsedMs: 2500, durationMs: 10_000, done: 5000, errors: 3 };
    expect(fraction(p)).toBe(0.25);
    expect(progressBar(p, 20)).toBe('[=====>              ] 2.5s/10.0s  5000 calls  2000 req/s  3 errors');
  });

  test('by count: the bar fills with done/count and the position is a count', () => {
    const p = { elapsedMs: 1000, count: 200, done: 50, errors: 1 };
    expect(fraction(p)).toBe(0.25);
    expect(progressBar(p, 8)).toBe('[==>     ] 50/200 calls  50 req/s  1 error');
  });

  test('bounded by both, the further one fills the bar; finished is a full bar', () => {
    expect(fraction({ elapsedMs: 1000, durationMs: 10_000, count: 100, done: 50, errors: 0 })).toBe(0.5);
    expect(progressBar({ elapsedMs: 10_400, durationMs: 10_000, done: 7, errors: 0 }, 4)).toBe('[====] 10.4s/10.0s  7 calls  1 req/s  0 errors');
  });

  test('the plain line (pipes, logs) has the same facts without the bar', () => {
    expect(progressText({ elapsedMs: 3000, durationMs: 10_000, done: 3600, errors: 0 })).toBe('3.0s/10.0s  3600 calls  1200 req/s  0 errors');
    expect(progressText({ elapsedMs: 0, done: 0, errors: 0 })).toBe('0.0s  0 calls  0 req/s  0 errors');
  });
});

describe('summary', () => {
  function run() {
    const histogram = new Histogram();
    for (let ms = 1; ms <= 100; ms++) histogram.record(ms); // 1..100 us
    const errorsByCode = new Map([
      ['503', { count: 3, sample: 'no node left' }],
      ['409', { count: 25, sample: 'odd call 1' }],
    ]);
    return summarize({ service: 'greeter', endpoint: 'hello', concurrency: 8, elapsedMs: 2000, histogram, ok: 72, errorsByCode });
  }

  test('counts, rate and latency in milliseconds', () => {
    const s = run();
    expect(s).toMatchObject({ total: 100, ok: 72, errors: 28, duration: 2, rps: 50, concurrency: 8 });
    expect(s.latency).toEqual({ min: 0.001, mean: 0.051, p50: 0.05, p90: 0.09, p99: 0.099, max: 0.1 });
    expect(s.errorsByCode).toEqual({ '409': 25, '503': 3 });
    expect(Object.keys(s.errorsByCode)).toEqual(['409', '503']);
  });

  test('the text names every error code with its count', () => {
    const text = formatSummary(run());
    expect(text.split('\n')).toEqual([
      'greeter.hello: 100 calls in 2.00s, 8 concurrent',
      '  ok       72',
      '  errors   28',
      '  req/s    50.0',
      '  latency  p50 0.050ms  p90 0.090ms  p99 0.099ms  max 0.100ms  (min 0.001ms, mean 0.051ms)',
      '  errors by code',
      '    409: 25  (Conflict: odd call 1)',
      '    503: 3  (Service Unavailable: no node left)',
      '',
    ]);
  });
});
