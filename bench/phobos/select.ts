import { MemoryRegistry, RegistryCache } from '../../lib';
import { DefaultSelector, STRATEGIES } from '../../lib/selector/default';
import type { MarkInfo, Next, SelectOptions } from '../../lib/selector/selector';

/**
 * Selection cost: ns per select + next + mark for every strategy, on 10 and on 10,000 nodes, with the registry cache
 * warm and breakers on (the client's warm path, minus the network). Rounds interleave every case; the table shows
 * medians, and the ratio is the median of the rounds' own 10k/10 ratios. It must stay under 2 for every strategy
 * (no O(nodes) work per call).
 *
 *   npm run bench:select -- --rounds=15 --iterations=100000
 */

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
};
const ROUNDS = arg('rounds', 15);
const ITERATIONS = arg('iterations', 100_000);
const SIZES = [10, 10_000];

interface Case {
  label: string;
  strategy: string;
  breaker: boolean;
}
const CASES: Case[] = [
  ...Object.keys(STRATEGIES).map((strategy) => ({ label: strategy, strategy, breaker: true })),
  { label: 'random, breakers off', strategy: 'random', breaker: false },
];

async function warmCache(size: number): Promise<RegistryCache> {
  const registry = new MemoryRegistry({ namespace: `bench-select-${size}` });
  const nodes = Array.from({ length: size }, (_, i) => ({
    id: `bench-${i}-${(i * 2654435761) % 1e9}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9000`,
    metadata: { weight: String(1 + (i % 4)), zone: i % 2 ? 'a' : 'b' },
  }));
  await registry.register({ name: 'bench', version: '1.0.0', metadata: {}, endpoints: [], nodes });
  const cache = new RegistryCache(registry, { ttl: 3_600_000 });
  await cache.getService('bench');
  return cache;
}

// What a client passes per call; built up front so the bench measures the selector, not the caller's objects.
const KEYS: SelectOptions[] = Array.from({ length: 1024 }, (_, i) => ({ endpoint: 'echo', key: `user-${i * 7919}` }));
const INFOS: MarkInfo[] = [1, 2, 3, 5].map((rtt) => ({ endpoint: 'echo', rtt }));

/** ns per select + next + mark over `iterations` calls. */
function run(selector: DefaultSelector, iterations: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const next = selector.select('bench', KEYS[i & 1023]) as Next;
    const node = next()!;
    selector.mark('bench', node, undefined, INFOS[i & 3]);
  }
  return Number(process.hrtime.bigint() - started) / iterations;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const caches = new Map<number, RegistryCache>();
  for (const size of SIZES) caches.set(size, await warmCache(size));
  const selectors = new Map<string, DefaultSelector>();
  const timings = new Map<string, number[]>();
  const setupMs = new Map<string, number>();
  for (const c of CASES) {
    for (const size of SIZES) {
      const selector = new DefaultSelector({ cache: caches.get(size)!, strategy: c.strategy, breaker: c.breaker ? {} : false });
      const t = process.hrtime.bigint();
      const first = selector.select('bench', KEYS[0]);
      if (typeof first !== 'function') throw new Error('the warm path must be synchronous');
      first(); // builds what the strategy derives from the node set once (the hash ring)
      setupMs.set(`${c.label}/${size}`, Number(process.hrtime.bigint() - t) / 1e6);
      run(selector, ITERATIONS); // warm-up: JIT and the per-node breakers
      selectors.set(`${c.label}/${size}`, selector);
      timings.set(`${c.label}/${size}`, []);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CASES) {
      for (const size of SIZES) {
        const selector = selectors.get(`${c.label}/${size}`)!;
        // Untimed first: the cases share one process, and each should be timed in its steady state (its own nodes
        // in cache), as in a service that runs one selector, not right after another case evicted them.
        run(selector, ITERATIONS / 5);
        timings.get(`${c.label}/${size}`)!.push(run(selector, ITERATIONS));
      }
    }
  }
  console.log(`Selection cost: ns per select + next + mark, median of ${ROUNDS} rounds x ${ITERATIONS} calls (Node ${process.version})`);
  console.log('');
  console.log('| strategy | 10 nodes (ns) | 10,000 nodes (ns) | ratio 10k/10 | first call on 10k nodes (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  let worst = 0;
  for (const c of CASES) {
    const small = timings.get(`${c.label}/10`)!;
    const large = timings.get(`${c.label}/10000`)!;
    // The ratio of each round (both sizes timed back to back, under the same load), then the median of those.
    const ratio = median(small.map((t, round) => large[round] / t));
    worst = Math.max(worst, ratio);
    const setup = setupMs.get(`${c.label}/10000`)!;
    console.log(`| ${c.label} | ${median(small).toFixed(0)} | ${median(large).toFixed(0)} | ${ratio.toFixed(2)} | ${setup.toFixed(1)} |`);
  }
  console.log('');
  console.log(`worst ratio 10k/10: ${worst.toFixed(2)} (${worst < 2 ? 'within' : 'NOT within'} 2x)`);
  for (const cache of caches.values()) {
    cache.registry.close();
    cache.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
