import * as amqp from 'amqplib';
import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { groupQueueName, RabbitBroker } from '../../../plugins/rabbitmq';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/**
 * A private RabbitMQ node, stopped (SIGKILL, then SIGTERM) and started again under a live publisher and subscriber.
 * While it is down, publishes fail fast with 503; when it is back, the subscriber consumes again by itself, with
 * exactly one consumer per subscription: every event published after the restart is handled exactly once.
 */

jest.setTimeout(240_000);

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

function counts(ids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describeEngine('rabbitmq', 'rabbitmq broker: the node stops and comes back', () => {
  let node: EngineInstance | undefined;
  const brokers: RabbitBroker[] = [];

  beforeAll(async () => {
    node = await EngineInstance.start('rabbitmq');
  }, 90_000);

  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    await node?.destroy();
  });

  async function broker(): Promise<RabbitBroker> {
    const b = new RabbitBroker({ url: node!.address, reconnectMinMs: 100, reconnectMaxMs: 1000, connectTimeout: 3000, publishTimeout: 3000 });
    brokers.push(b);
    await b.connect();
    return b;
  }

  async function consumersOn(queue: string): Promise<number> {
    const conn = await amqp.connect(node!.address);
    try {
      const ch = await conn.createChannel();
      return (await ch.checkQueue(queue)).consumerCount;
    } finally {
      await conn.close();
    }
  }

  test('publishes fail fast while it is down; the subscriber comes back once, and nothing is handled twice', async () => {
    const topic = uniqueTopic('restart');
    const group: number[] = [];
    const fanout: number[] = [];
    const sub = await broker();
    await sub.subscribe(topic, (e) => void group.push(idOf(e)), { queue: 'survivors' });
    await sub.subscribe(topic, (e) => void fanout.push(idOf(e)));
    const pub = await broker();
    let next = 0;

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      // Before: a batch through, so both subscriptions are idle when the node goes.
      const before = Array.from({ length: 50 }, () => next++);
      await Promise.all(before.map((id) => pub.publish(event(topic, id))));
      await eventually(() => before.every((id) => group.includes(id) && fanout.includes(id)), 10_000);

      const stopStarted = Date.now();
      await node!.stop(signal);
      const stopMs = Date.now() - stopStarted;

      // During: every publish is refused at once with 503, none waits for the node.
      const outage: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = Date.now();
        const err = await pub.publish(event(topic, -1)).then(() => undefined, (e: unknown) => e);
        outage.push(Date.now() - t);
        expect(err).toBeInstanceOf(RpcError);
        expect((err as RpcError).code).toBe(503);
      }
      await expect(sub.subscribe(`${topic}.late`, () => undefined)).rejects.toMatchObject({ code: 503 });

      const startAt = Date.now();
      await node!.start();
      const nodeUpMs = Date.now() - startAt;

      // Probe until the fan-out subscriber (whose queue died with the node) hears again: it has re-attached.
      const probes: number[] = [];
      await eventually(async () => {
        const id = next++;
        const ok = await pub.publish(event(topic, id)).then(() => true, () => false);
        if (ok) probes.push(id);
        return fanout.some((got) => got >= probes[0]);
      }, 30_000, 100);
      const backMs = Date.now() - startAt;

      const after = Array.from({ length: 200 }, () => next++);
      await Promise.all(after.map((id) => pub.publish(event(topic, id))));
      await eventually(() => after.every((id) => group.includes(id) && fanout.includes(id)), 10_000);
      // A moment for a doubled consumer to show itself, then count.
      await new Promise((r) => setTimeout(r, 300));
      const groupSeen = counts(group);
      const fanoutSeen = counts(fanout);
      // The group's queue is durable: every probe the node confirmed is there, and every event exactly once.
      for (const id of [...probes, ...after]) expect(groupSeen.get(id)).toBe(1);
      for (const id of after) expect(fanoutSeen.get(id)).toBe(1);
      expect(await consumersOn(groupQueueName('phobos', 'survivors', topic))).toBe(1);

      const worst = Math.max(...outage);
      console.log(
        `rabbitmq ${signal}: node down in ${stopMs} ms; ${outage.length} publishes during the outage failed with 503 in at most ${worst} ms; ` +
          `node up in ${nodeUpMs} ms, subscriber consuming again ${backMs} ms after the restart began; ` +
          `${probes.length + after.length} events after it, each handled once by the group and ${after.length} once by the fan-out subscriber`,
      );
      expect(worst).toBeLessThan(200);
    }
  });
});
