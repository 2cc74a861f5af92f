import * as amqp from 'amqplib';
import type { Event } from '../../../lib/broker/broker';
import { decodeEvent } from '../../../lib/broker/envelope';
import { deadLetterQueueName, DELIVERIES_HEADER, groupQueueName, RabbitBroker } from '../../../plugins/rabbitmq';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/** Handlers that keep failing: counted retries, then the dead-letter queue (queue groups) or a logged drop (fan-out). */

const MAX = 4;
const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: { n: String(id) } });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('rabbitmq', 'rabbitmq broker: handlers that keep failing', () => {
  const brokers: RabbitBroker[] = [];
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;

  beforeAll(async () => {
    conn = await amqp.connect(ENGINE_ADDRESSES.rabbitmq);
    ch = await conn.createChannel();
  });
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    await conn.close();
  });

  async function broker(): Promise<RabbitBroker> {
    const b = new RabbitBroker({ url: ENGINE_ADDRESSES.rabbitmq, maxDeliveries: MAX, queueExpires: 60_000 });
    brokers.push(b);
    await b.connect();
    return b;
  }

  test(`a queue group's event whose handler always fails is dead-lettered after exactly ${MAX} attempts`, async () => {
    const topic = uniqueTopic('poison');
    const attempts = new Map<number, number>();
    const handled: number[] = [];
    const sub = await broker();
    await sub.subscribe(
      topic,
      (e) => {
        const id = idOf(e);
        attempts.set(id, (attempts.get(id) ?? 0) + 1);
        if (id === 13) throw new Error('poison: always fails');
        handled.push(id);
      },
      { queue: 'doomed', durable: true },
    );
    const pub = await broker();
    for (const id of [12, 13, 14]) await pub.publish(event(topic, id));

    const queue = groupQueueName('phobos', 'doomed', topic);
    const dead = deadLetterQueueName(queue);
    let message: amqp.GetMessage | false = false;
    await eventually(async () => (message = await ch.get(dead, { noAck: true })), 10_000, 50);
    // A moment for any attempt beyond the limit to show up.
    await new Promise((r) => setTimeout(r, 300));

    expect(attempts.get(13)).toBe(MAX);
    expect(handled.sort()).toEqual([12, 14]);
    const got = message as unknown as amqp.GetMessage;
    const back = decodeEvent(topic, got.content);
    expect(idOf(back)).toBe(13);
    expect(back.metadata).toEqual({ n: '13' });
    expect(got.properties.headers?.[DELIVERIES_HEADER]).toBe(MAX - 1);
    expect(got.properties.headers?.['x-death']?.[0]?.reason).toBe('rejected');
    // Exactly one copy in the dead-letter queue, and none left in the group's queue.
    expect(await ch.get(dead, { noAck: true })).toBe(false);
    await sub.close();
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
  });

  test(`a fan-out subscriber gives up after ${MAX} attempts and goes on with the next events`, async () => {
    const topic = uniqueTopic('poison-fanout');
    const attempts = new Map<number, number>();
    const sub = await broker();
    await sub.subscribe(topic, (e) => {
      const id = idOf(e);
      attempts.set(id, (attempts.get(id) ?? 0) + 1);
      if (id === 1) throw new Error('always fails');
    });
    const pub = await broker();
    for (const id of [0, 1, 2]) await pub.publish(event(topic, id));
    await eventually(() => attempts.get(1) === MAX && attempts.get(2) === 1, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(Object.fromEntries(attempts)).toEqual({ 0: 1, 1: MAX, 2: 1 });
  });

  test('an event that fails twice then succeeds is handled, never dead-lettered', async () => {
    const topic = uniqueTopic('flaky');
    let tries = 0;
    const sub = await broker();
    await sub.subscribe(
      topic,
      () => {
        if (++tries <= 2) throw new Error('flaky');
      },
      { queue: 'patient' },
    );
    const pub = await broker();
    await pub.publish(event(topic, 1));
    await eventually(() => tries === 3, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(tries).toBe(3);
    expect((await ch.checkQueue(deadLetterQueueName(groupQueueName('phobos', 'patient', topic)))).messageCount).toBe(0);
  });
});
