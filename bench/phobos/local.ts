import { createService } from '../../lib';
import { Bench } from './bench';

/**
 * In-process fast path: a service calling an endpoint it serves itself, through the typed proxy, so no transport and
 * no codec are involved. Prints one JSON line: sequential and 64-in-flight calls per second. Parts are the in-memory
 * ones so that nothing on the network runs beside the measurement.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
/** BENCH_PROPAGATE=0 turns AsyncLocalStorage context propagation off (no async hooks on Node 20). */
const propagateContext = process.env.BENCH_PROPAGATE !== '0';

async function measure(call: () => Promise<unknown>, inflight: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  const worker = async () => {
    while (performance.now() < end) {
      // Check the time only every 64 calls: at millions of calls per second performance.now() itself shows up.
      for (let i = 0; i < 64; i++) await call();
      n += 64;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const service = createService({ name: 'bench', registry: 'memory', transport: 'memory', broker: 'memory', serverAddress: 'memory:0', argv: [], env: {}, logLevel: 'silent', propagateContext });
  service.handle(new Bench());
  await service.start();
  const bench = service.client.service<Bench>('bench');
  const payload = { data: 'hello, phobos' };
  const call = () => bench.echo(payload);
  await measure(call, 1, 500); // warm-up: let the JIT settle
  const seq = await measure(call, 1, seconds * 1000);
  const c64 = await measure(call, 64, seconds * 1000);
  console.log(JSON.stringify({ seq, c64 }));
  await service.stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
