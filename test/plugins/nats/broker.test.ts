import { jetstreamManager } from '@nats-io/jetstream';
import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { NatsBroker, type NatsBrokerOptions } from '../../../plugins/nats';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { deleteTestStreams, rawConnection } from './helpers';

/** JetStream durability (the stream keeps events for an absent group, max_deliver, dead letters) and bad envelopes. */

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: { n: String(id) } });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('nats', 'nats broker specifics', () => {
  const brokers: NatsBroker[] = [];
  async function make(options: NatsBrokerOptions = {}): Promise<NatsBroker> {
    const b = new NatsBroker({ address: ENGINE_ADDRESSES.nats, ...options });
    brokers.push(b);
    await b.connect();
    return b;
  }

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  afterAll(() => deleteTestStreams());

  test('a durable group keeps its events while no member runs: publishes land in the stream, the next member gets them', async () => {
    const topic = uniqueTopic('keep');
    const first = await make();
    const sub = await first.subscribe(topic, () => undefined, { queue: 'billing', durable: true });
    await sub.unsubscribe();
    const pub = await make();
    for (let id = 0; id < 3; id++) await pub.publish(event(topic, id));

    // Acknowledged by JetStream, so stored: three messages wait for the billing consumer.
    const nc = await rawConnection();
    try {
      const jsm = await jetstreamManager(nc);
      const stream = await jsm.streams.find(topic);
      expect((await jsm.streams.info(stream)).state.messages).toBe(3);
      expect((await jsm.consumers.info(stream, (await jsm.consumers.list(stream).next())[0].name)).num_pending).toBe(3);
    } finally {
      await nc.close();
    }

    const got: Event[] = [];
    await (await make()).subscribe(topic, (e) => void got.push(e), { queue: 'billing', durable: true });
    await eventually(() => got.length === 3, 5000);
    expect(got.map(idOf).sort()).toEqual([0, 1, 2]);
    expect(got[1].metadata).toEqual({ n: String(idOf(got[1])) });
  });

  test('an event that fails every attempt is tried max_deliver times, then dropped to the dead-letter subject', async () => {
    const topic = uniqueTopic('poison');
    const attempts = new Map<number, number>();
    const sub = await make({ durable: { maxDeliver: 3, redeliveryDelay: 50, deadLetter: 'conf.dead' } });
    const nc = await rawConnection();
    const dead: string[] = [];
    nc.subscribe(`conf.dead.${topic}`, { callback: (_err, m) => void dead.push(m.subject) });
    await nc.flush();
    try {
      await sub.subscribe(
        topic,
        (e) => {
          const id = idOf(e);
          attempts.set(id, (attempts.get(id) ?? 0) + 1);
          if (id === 1) throw new Error('poison');
        },
        { queue: 'workers', durable: true },
      );
      const pub = await make();
      for (let id = 0; id < 3; id++) await pub.publish(event(topic, id));
      await eventually(() => dead.length === 1, 5000);
      // Past the drop, nothing more comes for it.
      await new Promise((r) => setTimeout(r, 300));
      expect(Object.fromEntries(attempts)).toEqual({ 0: 1, 1: 3, 2: 1 });
      expect(dead).toEqual([`conf.dead.${topic}`]);
    } finally {
      await nc.close();
    }
  });

  test('malformed envelopes are logged and dropped, plain or durable; the events after them arrive', async () => {
    const plain = uniqueTopic('bad-plain');
    const durable = uniqueTopic('bad-durable');
    const b = await make();
    const got: number[] = [];
    await b.subscribe(plain, (e) => void got.push(idOf(e)));
    await b.subscribe(durable, (e) => void got.push(100 + idOf(e)), { queue: 'q', durable: true });
    const nc = await rawConnection();
    try {
      for (const topic of [plain, durable]) {
        nc.publish(topic, Buffer.from([9, 9, 9]));
        nc.publish(topic, Buffer.from([1, 2, 0, 0, 0, 99, 0x7b]));
      }
      await nc.flush();
    } finally {
      await nc.close();
    }
    const pub = await make();
    await pub.publish(event(plain, 1));
    await pub.publish(event(durable, 1));
    await eventually(() => got.length === 2, 5000);
    expect(got.sort()).toEqual([1, 101]);
  });

  test('an event over NATS max_payload is refused with 413', async () => {
    const pub = await make();
    const big: Event = { topic: uniqueTopic('big'), codec: 2, body: Buffer.alloc(1024 * 1024), metadata: {} };
    const err = await pub.publish(big).catch((e: RpcError) => e);
    expect((err as RpcError).code).toBe(413);
  });
});
