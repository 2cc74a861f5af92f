import * as amqp from 'amqplib';
import { Service, Subscribe, type Context } from '../../../lib';
import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { groupQueueName, RabbitBroker } from '../../../plugins/rabbitmq';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES, freePort } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { stopAll, testService } from '../../helpers/services';
import { Door } from './door';

/** The plugin as a Service gets it (flags, catalog, decorators), and its edges: bad input, no server, several URLs. */

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('rabbitmq', 'rabbitmq broker plugin', () => {
  const brokers: RabbitBroker[] = [];
  afterEach(async () => {
    await stopAll();
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    await Door.closeAll();
  });

  function broker(url: string = ENGINE_ADDRESSES.rabbitmq, extra: Partial<ConstructorParameters<typeof RabbitBroker>[0]> = {}): RabbitBroker {
    const b = new RabbitBroker({ url, queueExpires: 60_000, ...extra });
    brokers.push(b);
    return b;
  }

  test('--broker=rabbitmq with --broker_address: decorated subscribers and service.publish, metadata along', async () => {
    const topic = uniqueTopic('service');
    @Service({ name: 'rabbit-sub' })
    class Recorder {
      readonly got: { id: number; origin?: string }[] = [];
      @Subscribe(topic, { queue: 'recorders' })
      async on(e: { id: number }, ctx: Context): Promise<void> {
        this.got.push({ id: e.id, origin: ctx.metadata.origin });
      }
    }
    const argv = ['--broker=rabbitmq', `--broker_address=${ENGINE_ADDRESSES.rabbitmq}`];
    const recorder = new Recorder();
    const sub = testService({ name: 'rabbit-sub', broker: undefined, argv, plugins: { rabbitmq: { queueExpires: 60_000 } } });
    sub.handle(recorder);
    await sub.start();
    expect(sub.broker.name).toBe('rabbitmq');
    const pub = testService({ name: 'rabbit-pub', broker: undefined, argv });
    for (let id = 0; id < 5; id++) await pub.publish(topic, { id }, { metadata: { origin: 'plugin-test' } });
    await eventually(() => recorder.got.length === 5, 5000);
    expect(recorder.got.map((g) => g.id).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(recorder.got.every((g) => g.origin === 'plugin-test')).toBe(true);
  });

  test('a malformed message is dropped (acked) and the next event still arrives', async () => {
    const topic = uniqueTopic('malformed');
    const got: number[] = [];
    const sub = broker();
    await sub.connect();
    await sub.subscribe(topic, (e) => void got.push(idOf(e)), { queue: 'tolerant' });
    const conn = await amqp.connect(ENGINE_ADDRESSES.rabbitmq);
    try {
      const ch = await conn.createConfirmChannel();
      // Not an envelope: a version byte of 9. Then a real event.
      ch.publish('phobos', topic, Buffer.from([9, 2, 0, 0, 0, 0, 1, 2, 3]));
      ch.publish('phobos', topic, Buffer.from('x'));
      await ch.waitForConfirms();
      const pub = broker();
      await pub.connect();
      await pub.publish(event(topic, 42));
      await eventually(() => got.length === 1, 5000);
      await sub.close();
      // Nothing left behind in the group's queue: the bad ones were acked, not requeued for ever.
      expect((await ch.checkQueue(`phobos.tolerant.${topic}`)).messageCount).toBe(0);
    } finally {
      await conn.close();
    }
    expect(got).toEqual([42]);
  });

  test("the group's queue deleted under a subscriber: it declares it again and consumes on, with one consumer", async () => {
    const topic = uniqueTopic('deleted');
    const queue = groupQueueName('phobos', 'phoenix', topic);
    const got: number[] = [];
    const sub = broker(ENGINE_ADDRESSES.rabbitmq, { reconnectMinMs: 50 });
    await sub.subscribe(topic, (e) => void got.push(idOf(e)), { queue: 'phoenix' });
    const pub = broker();
    await pub.publish(event(topic, 1));
    await eventually(() => got.length === 1, 5000);
    const conn = await amqp.connect(ENGINE_ADDRESSES.rabbitmq);
    // checkQueue on a missing queue closes its channel (404), so every look gets a channel of its own.
    const consumers = async (): Promise<number | undefined> => {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      const ok = await ch.checkQueue(queue).catch(() => undefined);
      await ch.close().catch(() => undefined);
      return ok?.consumerCount;
    };
    try {
      const admin = await conn.createChannel();
      await admin.deleteQueue(queue);
      // RabbitMQ cancels the consumer; the subscription comes back on a fresh channel and declares the queue again.
      await eventually(async () => (await consumers()) === 1, 5000, 50);
      await pub.publish(event(topic, 2));
      await eventually(() => got.length === 2, 5000);
      expect(await consumers()).toBe(1);
    } finally {
      await conn.close().catch(() => undefined);
    }
    expect(got).toEqual([1, 2]);
  });

  test('no server yet: connect, publish and subscribe fail fast with 503; once it is there, the broker connects by itself', async () => {
    const door = await Door.make();
    const b = broker(door.url, { reconnectMinMs: 50, reconnectMaxMs: 200 });
    const t = Date.now();
    const err = await b.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(503);
    expect(Date.now() - t).toBeLessThan(1000);
    await expect(b.publish(event('nowhere', 1))).rejects.toMatchObject({ code: 503 });
    await expect(b.subscribe('nowhere', () => undefined)).rejects.toMatchObject({ code: 503 });

    await door.open();
    const topic = uniqueTopic('late');
    const got: number[] = [];
    await eventually(() => b.subscribe(topic, (e) => void got.push(idOf(e))).then(() => true), 5000, 50);
    await b.publish(event(topic, 3));
    await eventually(() => got.length === 1, 5000);
  });

  test('several URLs: a dead one is skipped for the next', async () => {
    const dead = await freePort();
    const b = broker(`amqp://127.0.0.1:${dead}, ${ENGINE_ADDRESSES.rabbitmq}`, { reconnectMinMs: 20, reconnectMaxMs: 50 });
    // The first dial (the dead URL) fails fast; the retry, on the next URL, connects.
    await eventually(() => b.connect().then(() => true), 5000, 20);
    const topic = uniqueTopic('urls');
    const got: number[] = [];
    await b.subscribe(topic, (e) => void got.push(idOf(e)));
    await b.publish(event(topic, 7));
    await eventually(() => got.length === 1, 5000);
  });

  test('a publisher whose first publish met no server recovers once there is one (the client does not keep the failed connect)', async () => {
    const door = await Door.make();
    const pub = testService({ name: 'late-pub', broker: 'rabbitmq', plugins: { rabbitmq: { url: door.url, reconnectMinMs: 50, reconnectMaxMs: 100 } } });
    await expect(pub.publish('t', { id: 1 })).rejects.toMatchObject({ code: 503 });
    await expect(pub.publish('t', { id: 2 })).rejects.toMatchObject({ code: 503 });
    await door.open();
    await eventually(() => pub.publish(uniqueTopic('late-pub'), { id: 3 }).then(() => true), 5000, 50);
  });
});
