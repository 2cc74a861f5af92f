import { randomBytes } from 'node:crypto';
import type { Broker, Event, EventHandler, SubscribeOptions } from '../../lib/broker/broker';

/**
 * The Broker conformance suite: every broker (memory, p2p, nats, rabbitmq, redis, mqtt) runs these same tests, so
 * fan-out, queue groups, metadata, unsubscribe and (where the engine keeps events) redelivery behave alike. Each
 * subscriber gets a broker instance of its own, as a separate process would. Topics are unique per test.
 *
 * The contract checked here: `subscribe()` resolves once the subscription is live (an event published after it
 * resolves, by anyone, is delivered); `publish()` resolves once the broker has taken the event.
 */

export interface BrokerHarness {
  /** A new, connected broker client on the shared engine (or namespace): what another process would get. */
  make(): Broker | Promise<Broker>;
  /** The broker keeps durable events until handled: a handler's rejection brings the event back. */
  redelivers: boolean;
  /** How long delivery may take (ms). */
  deliveryMs?: number;
}

export function uniqueTopic(prefix: string): string {
  return `conf.${prefix}.${randomBytes(4).toString('hex')}`;
}

interface Got {
  events: Event[];
  ids: number[];
}

function event(topic: string, id: number, metadata: Record<string, string> = {}): Event {
  // codec 2 (json): any id works, brokers must carry it untouched.
  return { topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata };
}

const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`broker: ${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function brokerConformance(harness: BrokerHarness): void {
  const open: Broker[] = [];
  const delivery = harness.deliveryMs ?? 5000;
  async function broker(): Promise<Broker> {
    const b = await harness.make();
    open.push(b);
    return b;
  }
  async function subscriber(topic: string, options: SubscribeOptions = {}, handle?: EventHandler): Promise<Got & { broker: Broker }> {
    const b = await broker();
    const got: Got = { events: [], ids: [] };
    await b.subscribe(
      topic,
      async (e) => {
        if (handle) await handle(e);
        got.events.push(e);
        got.ids.push(idOf(e));
      },
      options,
    );
    return { ...got, broker: b };
  }

  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  describe('broker conformance', () => {
    test('every subscriber without a queue gets every event, in order, bytes and metadata intact', async () => {
      const topic = uniqueTopic('fanout');
      const [s1, s2] = [await subscriber(topic), await subscriber(topic)];
      const pub = await broker();
      const N = 50;
      for (let id = 0; id < N; id++) await pub.publish(event(topic, id, { origin: 'conformance', n: String(id) }));
      await until(`${N} events on both subscribers`, delivery, () => s1.ids.length >= N && s2.ids.length >= N);
      expect(s1.ids).toEqual([...Array(N).keys()]);
      expect(s2.ids).toEqual([...Array(N).keys()]);
      const e = s1.events[7];
      expect(e.topic).toBe(topic);
      expect(e.codec).toBe(2);
      expect(Buffer.from(e.body).toString()).toBe('{"id":7}');
      expect(e.metadata).toEqual({ origin: 'conformance', n: '7' });
    });

    test('a queue group gets each event once, spread over its members, beside a fan-out subscriber', async () => {
      const topic = uniqueTopic('queue');
      const q1 = await subscriber(topic, { queue: 'billing' });
      const q2 = await subscriber(topic, { queue: 'billing' });
      const all = await subscriber(topic);
      const pub = await broker();
      const N = 60;
      for (let id = 0; id < N; id++) await pub.publish(event(topic, id));
      await until(`${N} events in the group and on the fan-out subscriber`, delivery, () => q1.ids.length + q2.ids.length >= N && all.ids.length >= N);
      // A moment for any duplicate to show up before counting.
      await new Promise((r) => setTimeout(r, 200));
      expect([...q1.ids, ...q2.ids].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
      expect(q1.ids.length).toBeGreaterThan(0);
      expect(q2.ids.length).toBeGreaterThan(0);
      expect(all.ids).toEqual([...Array(N).keys()]);
    });

    test('two queue groups on one topic each get every event once', async () => {
      const topic = uniqueTopic('groups');
      const a = await subscriber(topic, { queue: 'a' });
      const b = await subscriber(topic, { queue: 'b' });
      const pub = await broker();
      const N = 20;
      for (let id = 0; id < N; id++) await pub.publish(event(topic, id));
      await until('every event in both groups', delivery, () => a.ids.length >= N && b.ids.length >= N);
      await new Promise((r) => setTimeout(r, 100));
      expect(a.ids).toEqual([...Array(N).keys()]);
      expect(b.ids).toEqual([...Array(N).keys()]);
    });

    test('topics are apart: a subscriber gets nothing published to another topic', async () => {
      const topic = uniqueTopic('apart');
      const mine = await subscriber(`${topic}.mine`);
      const theirs = await subscriber(`${topic}.theirs`);
      const pub = await broker();
      await pub.publish(event(`${topic}.theirs`, 1));
      await pub.publish(event(`${topic}.mine`, 2));
      await until('the event on its own topic', delivery, () => mine.ids.length === 1 && theirs.ids.length === 1);
      expect(mine.ids).toEqual([2]);
      expect(theirs.ids).toEqual([1]);
    });

    test('publishing to a topic nobody subscribes to succeeds', async () => {
      const pub = await broker();
      await expect(pub.publish(event(uniqueTopic('nobody'), 1))).resolves.toBeUndefined();
    });

    test('after unsubscribe a subscriber gets nothing more; others on the topic still do', async () => {
      const topic = uniqueTopic('unsub');
      const b = await broker();
      const gone: number[] = [];
      const sub = await b.subscribe(topic, (e) => void gone.push(idOf(e)));
      const stays = await subscriber(topic);
      const pub = await broker();
      await pub.publish(event(topic, 1));
      await until('the first event on both', delivery, () => gone.length === 1 && stays.ids.length === 1);
      await sub.unsubscribe();
      await pub.publish(event(topic, 2));
      await pub.publish(event(topic, 3));
      await until('later events on the remaining subscriber', delivery, () => stays.ids.length === 3);
      await new Promise((r) => setTimeout(r, 100));
      expect(gone).toEqual([1]);
      expect(stays.ids).toEqual([1, 2, 3]);
    });

    test("a handler's failure does not stop the events after it", async () => {
      const topic = uniqueTopic('fails');
      const s = await subscriber(topic, {}, (e) => {
        if (idOf(e) === 1) throw new Error('handler failed on purpose');
      });
      const pub = await broker();
      for (let id = 0; id < 4; id++) await pub.publish(event(topic, id));
      await until('the events after the failure', delivery, () => s.ids.includes(3));
      expect(s.ids.filter((id) => id !== 1)).toEqual([0, 2, 3]);
    });

    test('close() ends every subscription of that client', async () => {
      const topic = uniqueTopic('close');
      const closing = await subscriber(topic);
      const stays = await subscriber(topic);
      const pub = await broker();
      await pub.publish(event(topic, 1));
      await until('the first event on both', delivery, () => closing.ids.length === 1 && stays.ids.length === 1);
      await closing.broker.close();
      await pub.publish(event(topic, 2));
      await until('the second event on the open client', delivery, () => stays.ids.length === 2);
      await new Promise((r) => setTimeout(r, 100));
      expect(closing.ids).toEqual([1]);
    });

    test('a durable queue subscription receives what is published', async () => {
      const topic = uniqueTopic('durable-plain');
      const s = await subscriber(topic, { queue: 'keepers', durable: true });
      const pub = await broker();
      for (let id = 0; id < 5; id++) await pub.publish(event(topic, id));
      await until('five events', delivery, () => s.ids.length >= 5);
      expect([...s.ids].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    });

    // Only engines that keep events can give one back; the in-process brokers are at-most-once and say so.
    if (harness.redelivers) test('durable: a rejected event comes back until handled; none is lost', async () => {
      const topic = uniqueTopic('durable');
      const attempts = new Map<number, number>();
      const s = await subscriber(topic, { queue: 'workers', durable: true }, (e) => {
        const id = idOf(e);
        const n = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, n);
        if (id % 3 === 0 && n === 1) throw new Error('first attempt fails on purpose');
      });
      const pub = await broker();
      const N = 12;
      for (let id = 0; id < N; id++) await pub.publish(event(topic, id));
      await until('every event handled', delivery * 2, () => new Set(s.ids).size === N);
      expect([...new Set(s.ids)].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
      for (let id = 0; id < N; id += 3) expect(attempts.get(id)).toBeGreaterThanOrEqual(2);
    });
  });
}
