'use strict';
/**
 * Stream throughput, one process, caller and server as two services: `npm run build && node bench/stream.cjs`.
 * 200,000 messages `{ i, data: 'hello, phobos' }` down a server stream and up a client stream, over tcp (127.0.0.1)
 * and memory, with the default window (16 messages). Prints messages per second; not part of RESULTS.md.
 */
const { createService, Method, Service } = require('../dist/lib');

const N = Number(process.env.N ?? 200_000);

class Bench {
  async *items(req) {
    for (let i = 0; i < req.n; i++) yield { i, data: 'hello, phobos' };
  }
  async sum(reqs) {
    let total = 0;
    for await (const r of reqs) total += r.i;
    return total;
  }
}
Method({ stream: 'server' })(Bench.prototype, 'items');
Method({ stream: 'client' })(Bench.prototype, 'sum');
Service({ name: 'bench' })(Bench);

async function* up(n) {
  for (let i = 0; i < n; i++) yield { i, data: 'hello, phobos' };
}

async function run(transport) {
  const options = { registry: 'memory', broker: 'memory', transport, argv: [], env: {}, logLevel: 'silent', plugins: { memory: { namespace: transport } } };
  if (transport === 'memory') options.serverAddress = 'memory:0';
  const server = createService({ name: 'bench', ...options });
  server.handle(new Bench());
  await server.start();
  const caller = createService({ name: 'caller', ...options });
  const bench = caller.client.service('bench');
  for await (const _ of await bench.items({ n: 1000 })); // warm-up
  let t = performance.now();
  let n = 0;
  for await (const _ of await bench.items({ n: N }, { timeout: 120_000 })) n++;
  const down = n / ((performance.now() - t) / 1000);
  t = performance.now();
  await bench.sum(up(N), { timeout: 120_000 });
  const upRate = N / ((performance.now() - t) / 1000);
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`${transport.padEnd(6)} server stream ${fmt(down)} msg/s, client stream ${fmt(upRate)} msg/s`);
  await caller.stop();
  await server.stop();
}

(async () => {
  await run('tcp');
  await run('memory');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
