import { Child, killAll, uniqueName } from '../helpers/process';
import { cli, fixture } from '../cli/run-cli';
import type { BenchSummary } from '../../lib/cli/bench-report';

afterEach(killAll);

/** `phobos bench` against a real service process, over real sockets. */

/** The `--json` summary, as the command declares it. */
type Summary = BenchSummary;

/** Reads the text summary back into numbers. */
function parseText(out: string) {
  const num = (re: RegExp) => Number(re.exec(out)?.[1]);
  return {
    total: num(/: (\d+) calls in /),
    duration: num(/ calls in ([\d.]+)s,/),
    concurrency: num(/, (\d+) concurrent$/m),
    ok: num(/^ {2}ok\s+(\d+)$/m),
    errors: num(/^ {2}errors\s+(\d+)$/m),
    rps: num(/^ {2}req\/s\s+([\d.]+)$/m),
    p50: num(/p50 ([\d.]+)ms/),
    p90: num(/p90 ([\d.]+)ms/),
    p99: num(/p99 ([\d.]+)ms/),
    max: num(/max ([\d.]+)ms/),
  };
}

describe('phobos bench', () => {
  test('-c 8 -d 1s: a summary whose numbers agree with each other, progress on stderr', async () => {
    const name = uniqueName('cli-bench');
    await fixture(name);
    const r = await cli(['bench', name, 'echo', '{"hello":"world"}', '-c', '8', '-d', '1s']);
    expect(r.code).toBe(0);
    const s = parseText(r.out);
    expect(r.out.split('\n')[0]).toBe(`${name}.echo: ${s.total} calls in ${s.duration.toFixed(2)}s, 8 concurrent`);
    expect(s.total).toBeGreaterThan(0);
    expect(s).toMatchObject({ ok: s.total, errors: 0, concurrency: 8 });
    expect(s.duration).toBeGreaterThanOrEqual(1);
    expect(s.duration).toBeLessThan(3);
    // req/s is total / duration (the duration printed is rounded to 10 ms).
    expect(Math.abs(s.rps - s.total / s.duration) / s.rps).toBeLessThan(0.01);
    expect(s.p50).toBeLessThanOrEqual(s.p90);
    expect(s.p90).toBeLessThanOrEqual(s.p99);
    expect(s.p99).toBeLessThanOrEqual(s.max);
    expect(s.p50).toBeGreaterThan(0);
    expect(r.out).not.toMatch(/errors by code/);
    // Not a terminal: plain progress lines, no carriage returns.
    expect(r.err).toMatch(/^\d+\.\ds\/1\.0s {2}\d+ calls {2}\d+ req\/s {2}0 errors$/m);
    expect(r.err).not.toContain('\r');
  });

  test('-n 50 against an endpoint failing every odd call: exactly 25 errors, all 409, in text and JSON', async () => {
    const name = uniqueName('cli-bench-odd');
    await fixture(name);
    const text = await cli(['bench', name, 'odd', '-n', '10', '-c', '4']);
    expect(text.code).toBe(0);
    expect(parseText(text.out)).toMatchObject({ total: 10, ok: 5, errors: 5 });
    expect(text.out).toMatch(/^ {4}409: 5 {2}\(Conflict: odd call \d+\)$/m);

    // The fixture's count is now 10 (even), so the next 50 calls fail on 11, 13, ..., 59: 25 of them.
    const r = await cli(['bench', name, 'odd', '-n', '50', '-c', '8', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as Summary;
    expect(Object.keys(s).sort()).toEqual(['concurrency', 'duration', 'endpoint', 'errorSamples', 'errors', 'errorsByCode', 'latency', 'ok', 'rps', 'service', 'total']);
    expect(s).toMatchObject({ service: name, endpoint: 'odd', concurrency: 8, total: 50, ok: 25, errors: 25, errorsByCode: { '409': 25 } });
    expect(s.errorSamples['409']).toMatch(/^odd call \d*[13579]$/);
    expect(Object.keys(s.latency).sort()).toEqual(['max', 'mean', 'min', 'p50', 'p90', 'p99']);
    const l = s.latency;
    expect(l.min).toBeLessThanOrEqual(l.p50);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.max);
    expect(typeof s.duration).toBe('number');
    expect(Math.abs(s.rps - s.total / s.duration) / s.rps).toBeLessThan(0.005);
  });

  test('every call failing exits 1; an unknown service exits 1 before any load', async () => {
    const name = uniqueName('cli-bench-fail');
    await fixture(name);
    const r = await cli(['bench', name, 'missing', '-n', '5', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ total: 5, ok: 0, errors: 5, errorsByCode: { '404': 5 } });

    const none = uniqueName('cli-bench-none');
    const unknown = await cli(['bench', none, 'echo', '-n', '5']);
    expect(unknown).toMatchObject({ code: 1, out: '', err: `phobos: service ${none} not found` });

    const bad = await cli(['bench', name, 'echo', '-c', 'lots']);
    expect(bad).toMatchObject({ code: 1, err: 'phobos: --concurrency: "lots" is not a whole number >= 1' });
  });

  test('ctrl-c stops the run early and still prints the summary', async () => {
    const name = uniqueName('cli-bench-int');
    await fixture(name);
    const c = new Child('lib/cli/main.js', ['bench', name, 'echo', '-c', '2', '-d', '60s', '--json']);
    await c.waitFor(/^\d+\.\ds\/60\.0s /, 15_000);
    c.kill('SIGINT');
    expect((await c.exit(10_000)).code).toBe(0);
    const s = JSON.parse(c.lines.join('\n')) as Summary;
    expect(s.total).toBeGreaterThan(0);
    expect(s.ok).toBe(s.total);
    expect(s.duration).toBeLessThan(30);
  });
});
