import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { type Listener, MessageKind, type Message, responseTo } from '../../../lib/transport/transport';
import { NatsBroker, NatsRegistry, NatsTransport } from '../../../plugins/nats';
import { record, uniqueService } from '../../conformance/registry';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/**
 * A private nats-server killed (SIGKILL) and started again on the same port while transport, broker and registry
 * clients are connected: calls and publishes during the outage fail fast with 503, the clients reconnect by
 * themselves, and afterwards every event reaches each subscriber once (no doubled subscriptions) and calls succeed.
 */

const request = (body: string): Message => ({
  kind: MessageKind.request,
  id: 0,
  codec: 2,
  service: 'faulty',
  endpoint: 'Echo.echo',
  timeout: 0,
  metadata: undefined,
  error: false,
  body: Buffer.from(body),
});

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

async function failure(p: Promise<unknown>): Promise<{ code: number; ms: number }> {
  const started = Date.now();
  try {
    await p;
  } catch (err) {
    return { code: (err as RpcError).code, ms: Date.now() - started };
  }
  throw new Error('expected a failure during the outage');
}

describeEngine('nats', 'nats plugins through a NATS server crash and restart', () => {
  let nats: EngineInstance;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await EngineInstance.start('nats');
  }, 20_000);

  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await nats?.destroy();
  });

  test('outage: fast 503s; after the restart: calls work, each event arrives once per subscriber, nodes still found', async () => {
    const address = nats.address;
    // Transport: a listener and a caller, each with its own connection.
    const server = new NatsTransport({ address });
    const client = new NatsTransport({ address });
    closers.push(() => server.close(), () => client.close());
    // Echoes upper-cased; never answers "hold", so a call can be in flight when the server dies.
    const listener: Listener = await server.listen(
      '127.0.0.1:0',
      (req, reply) => {
        const body = Buffer.from(req.body).toString();
        if (body !== 'hold') reply(responseTo(req, Buffer.from(body.toUpperCase()), false));
      },
      { service: 'faulty' },
    );
    const socket = await client.dial(listener.address);
    expect(Buffer.from((await socket.request(request('before'), { timeout: 2000 })).body).toString()).toBe('BEFORE');

    // Broker: two plain subscribers, a queue group of two, and a durable queue group; one publisher.
    const topic = uniqueTopic('fault');
    const durableTopic = uniqueTopic('fault-durable');
    const brokers = Array.from({ length: 6 }, () => new NatsBroker({ address, durable: { redeliveryDelay: 100 } }));
    closers.push(...brokers.map((b) => () => b.close()));
    const [plainA, plainB, queueA, queueB, durable, publisher] = brokers;
    const got = { plainA: [] as number[], plainB: [] as number[], queue: [] as number[], durable: [] as number[] };
    await plainA.subscribe(topic, (e) => void got.plainA.push(idOf(e)));
    await plainB.subscribe(topic, (e) => void got.plainB.push(idOf(e)));
    await queueA.subscribe(topic, (e) => void got.queue.push(idOf(e)), { queue: 'workers' });
    await queueB.subscribe(topic, (e) => void got.queue.push(idOf(e)), { queue: 'workers' });
    await durable.subscribe(durableTopic, (e) => void got.durable.push(idOf(e)), { queue: 'keepers', durable: true });
    await publisher.connect();

    // Registry: one instance registers, another sees it.
    const holder = new NatsRegistry({ address });
    const reader = new NatsRegistry({ address });
    closers.push(() => holder.close(), () => reader.close());
    const name = uniqueService('fault');
    await holder.register(record(name, [`${name}-1`]), { ttl: 30 });
    await eventually(async () => (await reader.getService(name)).length === 1, 3000);

    // The crash, with a call in flight: it fails when the connection drops, not at its 10 s deadline.
    const inFlight = failure(socket.request(request('hold'), { timeout: 10_000 }));
    await eventually(() => socket.inFlight === 1, 2000);
    await nats.stop('SIGKILL');
    const outage: { what: string; code: number; ms: number }[] = [{ what: 'call sent before the kill, failed after', ...(await inFlight) }];
    for (let i = 0; i < 3; i++) {
      outage.push({ what: 'call', ...(await failure(socket.request(request(`during-${i}`), { timeout: 10_000 }))) });
      outage.push({ what: 'publish', ...(await failure(publisher.publish(event(topic, -1), { timeout: 10_000 }))) });
      outage.push({ what: 'durable publish', ...(await failure(publisher.publish(event(durableTopic, -1), { timeout: 10_000 }))) });
      outage.push({ what: 'register', ...(await failure(holder.register(record(name, [`${name}-2`]), { ttl: 30 }))) });
    }
    // Lookups answer from what the reader already knew.
    expect((await reader.getService(name)).map((s) => s.nodes.length)).toEqual([1]);
    console.log(`NATS down: ${outage.map((o) => `${o.what} ${o.code} in ${o.ms} ms`).join('; ')}`);
    expect(outage.every((o) => o.code === 503)).toBe(true);
    expect(Math.max(...outage.map((o) => o.ms))).toBeLessThan(2000);

    // The restart, same port: everybody reconnects on their own.
    await nats.start();
    const restarted = Date.now();
    const reply = await eventually(async () => socket.request(request('after'), { timeout: 1000 }).catch(() => undefined), 15_000, 50);
    console.log(`NATS restarted: first successful call ${Date.now() - restarted} ms after its port was open again`);
    expect(Buffer.from(reply!.body).toString()).toBe('AFTER');

    // Each connection reconnects on its own schedule, and core NATS delivers only to subscriptions the server has at
    // that moment: probe the plain topic until every subscriber's connection is back before counting.
    const PROBE = 1000;
    let probe = PROBE;
    const probed = () => [got.plainA, got.plainB, got.queue].every((ids) => ids.some((id) => id >= PROBE));
    await eventually(async () => {
      await publisher.publish(event(topic, probe++)).catch(() => undefined);
      return probed();
    }, 10_000, 100);
    const subscribersBack = Date.now() - restarted;

    // Ids 0..N-1 once each per subscriber: no doubled subscription, nothing lost by the durable group.
    const N = 20;
    await eventually(async () => publisher.publish(event(durableTopic, 0)).then(() => true).catch(() => false), 10_000, 100);
    for (let id = 1; id < N; id++) await publisher.publish(event(durableTopic, id));
    for (let id = 0; id < N; id++) await publisher.publish(event(topic, id));
    const all = [...Array(N).keys()];
    const real = (ids: number[]) => ids.filter((id) => id < PROBE);
    const counts = () => `plain ${real(got.plainA).length}/${real(got.plainB).length}, queue ${real(got.queue).length}, durable ${got.durable.length}`;
    await eventually(
      () => real(got.plainA).length >= N && real(got.plainB).length >= N && real(got.queue).length >= N && new Set(got.durable).size >= N,
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${counts()}`);
    });
    const durableDone = Date.now() - restarted;
    // A moment for a duplicate (a doubled subscription) to show up before counting.
    await new Promise((r) => setTimeout(r, 300));
    expect(real(got.plainA)).toEqual(all);
    expect(real(got.plainB)).toEqual(all);
    expect(real(got.queue).sort((a, b) => a - b)).toEqual(all);
    expect([...got.durable].sort((a, b) => a - b)).toEqual(all);
    console.log(
      `after restart: every plain subscriber back ${subscribersBack} ms after the port reopened; ${N} events each to 2 plain subscribers, ` +
        `${real(got.queue).length} to the queue group, ${got.durable.length} to the durable group (all handled ${durableDone} ms after the port reopened)`,
    );

    // The registry view survived the outage, and new registrations travel again.
    await holder.register(record(name, [`${name}-2`]), { ttl: 30 });
    await eventually(async () => (await reader.getService(name))[0]?.nodes.length === 2, 3000);
  }, 60_000);
});
