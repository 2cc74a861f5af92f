'use strict';
/**
 * Moleculer's local call, the peer of bench/phobos/local.ts: a broker with no transporter calling an action of a
 * service it hosts (`broker.call('bench.echo', params)`), on Moleculer's defaults. Prints one JSON line like the
 * Phobos side: sequential and 64-in-flight calls per second.
 */
const { performance } = require('node:perf_hooks');
const { ServiceBroker } = require('moleculer');

const seconds = Number(process.env.BENCH_SECONDS || 2);

async function measure(call, inflight, ms) {
  const end = performance.now() + ms;
  let n = 0;
  const worker = async () => {
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) await call();
      n += 64;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, worker));
  return n / ((performance.now() - t0) / 1000);
}

async function main() {
  const broker = new ServiceBroker({ nodeID: 'local-bench', logger: false });
  broker.createService({ name: 'bench', actions: { echo: async (ctx) => ctx.params } });
  await broker.start();
  const payload = { data: 'hello, phobos' };
  const call = () => broker.call('bench.echo', payload);
  await measure(call, 1, 500);
  const seq = await measure(call, 1, seconds * 1000);
  const c64 = await measure(call, 64, seconds * 1000);
  console.log(JSON.stringify({ seq, c64 }));
  await broker.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
