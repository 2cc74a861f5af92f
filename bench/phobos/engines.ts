import { createService, Service, Subscribe, type PhobosService } from '../../lib';
import { Bench } from './bench';
import { closedLoop, median } from './stats';

/**
 * What the engines cost, next to the zero-server defaults: `npm run bench:engines`.
 *
 *   calls   64 echo calls in flight over each transport (tcp, nats), client and server in this process with the
 *           in-process fast path off, so every call crosses the transport (and, for nats, the NATS server).
 *   events  5,000 events published with 64 publishes in flight, until one subscriber has handled them all, for each
 *           broker (p2p, nats, redis, rabbitmq, mqtt), fan-out and through a queue group; events that never arrive
 *           (an engine dropping what a lagging subscriber cannot take) are counted, not waited for.
 *
 * Rounds are interleaved and medians printed as markdown. The engines are the ones on 127.0.0.1 (scripts/engines.sh).
 * Everything shares one process and 2 cores with the engine servers, so read the numbers against each other.
 */

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 5000);
const TRANSPORTS = ['tcp', 'nats'];
const BROKERS = ['p2p', 'nats', 'redis', 'rabbitmq', 'mqtt'];

let ns = 0;
function service(name: string, parts: { transport?: string; broker?: string }): PhobosService {
  return createService({
    name,
    registry: 'memory',
    transport: parts.transport ?? 'tcp',
    broker: parts.broker ?? 'memory',
    argv: [],
    env: {},
    logLevel: 'silent',
    preferLocal: false,
    // Group queues the bench declares on RabbitMQ go away a minute after their last use.
    plugins: { memory: { namespace: `bench-engines-${++ns}` }, rabbitmq: { queueExpires: 60_000 } },
  });
}

async function calls(transport: string): Promise<{ rps: number; p50: number }> {
  const server = service('bench', { transport });
  server.handle(new Bench());
  await server.start();
  try {
    const bench = server.client.service<Bench>('bench');
    const payload = { data: 'hello, phobos' };
    for (let i = 0; i < 2000; i++) await bench.echo(payload); // warm-up
    const { latencies, elapsed } = await closedLoop(64, SECONDS, () => bench.echo(payload));
    return { rps: latencies.length / elapsed, p50: median(latencies) };
  } finally {
    await server.stop();
  }
}

/** Events per second published and handled, and how many never arrived (an engine may drop what a lagging subscriber cannot take). */
async function events(broker: string, queue: string | undefined): Promise<{ rate: number; lost: number }> {
  const topic = `bench.engines.${process.pid}.${++ns}`;
  let handled = 0;
  let last = 0;
  @Service({ name: 'bench-sub' })
  class Sink {
    @Subscribe(topic, { queue })
    async on(): Promise<void> {
      handled++;
      last = performance.now();
    }
  }
  const sub = service('bench-sub', { broker });
  sub.handle(new Sink());
  await sub.start();
  // One service publishes and subscribes: for p2p the publisher must see the subscription in its registry, and for
  // the engines it is simply one more client of the same server.
  try {
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < EVENTS) {
        next++;
        await sub.publish(topic, { n: next, data: 'hello, phobos' });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    // Done when all arrived, or when nothing more has arrived for 2 s (what is missing then was dropped).
    while (handled < EVENTS && performance.now() - Math.max(last, t0) < 2000) await new Promise((r) => setTimeout(r, 5));
    return { rate: handled / ((last - t0) / 1000), lost: EVENTS - handled };
  } finally {
    await sub.stop();
  }
}

async function main(): Promise<void> {
  const callRounds = new Map<string, { rps: number; p50: number }[]>();
  const eventRounds = new Map<string, { rate: number; lost: number }[]>();
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of TRANSPORTS) push(callRounds, t, await calls(t));
    for (const b of BROKERS) {
      push(eventRounds, b, await events(b, undefined));
      push(eventRounds, `${b}, queue group`, await events(b, 'workers'));
    }
    process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`);
  }
  const k = (n: number) => `${Math.round(n / 100) / 10}k`;
  console.log(`| transport, 64 in flight | calls/s | p50 (ms) |\n|---|--:|--:|`);
  for (const [t, rs] of callRounds) console.log(`| ${t} | ${k(median(rs.map((x) => x.rps)))} | ${median(rs.map((x) => x.p50)).toFixed(2)} |`);
  console.log(`\n| broker, ${EVENTS} events, 64 publishes in flight | events/s published and handled | events lost, per round |\n|---|--:|--:|`);
  for (const [b, rs] of eventRounds) console.log(`| ${b} | ${k(median(rs.map((x) => x.rate)))} | ${rs.map((x) => x.lost).join(', ')} |`);
  console.log(`\nEvery round:\n\`\`\`\n${JSON.stringify({ calls: Object.fromEntries(callRounds), events: Object.fromEntries(eventRounds) })}\n\`\`\``);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
