import { createService } from '../../lib';
import type { Bench } from './bench';

/**
 * 3-node failover throughput: a Phobos client (failover fail mode, the default) keeps 64 calls in flight against
 * every `bench` node it finds through the default registry, for BENCH_SECONDS. BENCH_NODES says how many nodes to wait
 * for. Prints one JSON line: calls per second, latency percentiles, failed calls and how the calls spread over nodes.
 * The runner may SIGKILL a node in the middle of the run; the failed count then says what failover let through.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const nodes = Number(process.env.BENCH_NODES ?? 3);

async function main(): Promise<void> {
  const service = createService({ name: 'bench-failover-client', logLevel: 'silent' });
  const deadline = Date.now() + 20_000;
  while ((await service.registry.getService('bench')).flatMap((r) => r.nodes).length < nodes) {
    if (Date.now() > deadline) throw new Error(`fewer than ${nodes} bench nodes found`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const bench = service.client.service<Bench>('bench', { retries: 3 });
  const payload = { data: 'hello, phobos' };
  for (let i = 0; i < 2000; i++) await bench.echo(payload); // warm: connections to every node, the JIT
  console.error('RUNNING');
  const samples: number[] = [];
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await bench.echo(payload);
        samples.push(performance.now() - t0);
      } catch {
        failed++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] ?? NaN;
  console.log(JSON.stringify({ rps: samples.length / elapsed, ok: samples.length, failed, p50: pct(50), p99: pct(99) }));
  await service.stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
