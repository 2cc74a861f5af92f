'use strict';
/**
 * The client side of every contender: `node bench/client.cjs <contender> [flags]` loads the contender's adapter
 * (`connect(opts) -> { call(data) -> Promise<data>, close() }`), runs the same scenarios against it and prints one
 * JSON line with the results on stdout. Everything else goes to stderr.
 *
 * Scenarios (each lasts BENCH_SECONDS, set by the runner from --seconds):
 *   seq   one request in flight, small payload: p50/p99 latency and req/s
 *   c64   64 requests in flight, small payload: req/s and p99
 *   big   64 requests in flight, 16 KiB string echoed: MB/s of payload (one way, 1 MB = 10^6 bytes)
 * Every loop stops at its deadline or at MAX_SAMPLES requests, whichever comes first.
 */
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { latencySummary } = require('./stats.cjs');

const MAX_SAMPLES = 2_000_000;
const SMALL = 'hello, phobos';
const BIG = crypto.randomBytes(12 * 1024).toString('base64'); // 16384 ASCII chars, not trivially compressible
const samples = new Float64Array(MAX_SAMPLES);

async function scenario(call, data, inflight, ms) {
  const end = performance.now() + ms;
  let n = 0;
  const worker = async () => {
    while (n < MAX_SAMPLES && performance.now() < end) {
      const t0 = performance.now();
      const reply = await call(data);
      const dt = performance.now() - t0;
      if (typeof reply !== 'string' || reply.length !== data.length) {
        throw new Error(`bad echo: expected ${data.length} chars, got ${typeof reply} ${reply && reply.length}`);
      }
      if (n < MAX_SAMPLES) samples[n++] = dt;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { n, seconds, rps: n / seconds, ...latencySummary(samples, n) };
}

async function main(connect, opts) {
  const ms = opts.seconds * 1000;
  const client = await connect(opts);
  try {
    // Warm-up (not reported): let both sides JIT the small and the big path.
    await scenario(client.call, SMALL, 1, Math.min(1000, ms / 3));
    await scenario(client.call, SMALL, 64, Math.min(1000, ms / 3));
    await scenario(client.call, BIG, 64, Math.min(500, ms / 6));

    const seq = await scenario(client.call, SMALL, 1, ms);
    const c64 = await scenario(client.call, SMALL, 64, ms);
    const big = await scenario(client.call, BIG, 64, ms);
    return {
      seq: { p50: seq.p50, p99: seq.p99, rps: seq.rps, n: seq.n },
      c64: { rps: c64.rps, p50: c64.p50, p99: c64.p99, n: c64.n },
      big: { mbps: (big.n * BIG.length) / big.seconds / 1e6, rps: big.rps, p99: big.p99, n: big.n },
    };
  } finally {
    await client.close();
  }
}

module.exports = { main };
