import type { Event } from '../../../lib/broker/broker';
import { RabbitBroker } from '../../../plugins/rabbitmq';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { Door } from './door';

/**
 * A network path that goes silent (no reset, no close): the publish confirm never comes, so publish fails with 408
 * at its deadline; the AMQP heartbeat then declares the connection dead and the broker reconnects by itself.
 */

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('rabbitmq', 'rabbitmq broker: a silent network path', () => {
  let broker: RabbitBroker | undefined;
  afterAll(async () => {
    await broker?.close();
    await Door.closeAll();
  });

  test('publish times out with 408; the heartbeat notices, the broker reconnects and consumes again', async () => {
    const door = await Door.make();
    await door.open();
    const b = (broker = new RabbitBroker({ url: door.url, heartbeat: 1, publishTimeout: 300, reconnectMinMs: 50, reconnectMaxMs: 200 }));
    await b.connect();
    const topic = uniqueTopic('silent');
    const got: number[] = [];
    await b.subscribe(topic, (e) => void got.push(idOf(e)));
    await b.publish(event(topic, 1));
    await eventually(() => got.length === 1, 5000);

    expect(door.freeze()).toBe(1);
    const t = Date.now();
    await expect(b.publish(event(topic, 2))).rejects.toMatchObject({ code: 408 });
    const timedOutMs = Date.now() - t;
    expect(timedOutMs).toBeGreaterThanOrEqual(290);
    expect(timedOutMs).toBeLessThan(1000);

    // Missed heartbeats close the frozen connection; the next dial goes through the door afresh, and the fan-out
    // subscription is back on it. Probe until an event arrives.
    const lostAt = Date.now();
    let next = 10;
    await eventually(async () => {
      await b.publish(event(topic, next++)).catch(() => undefined);
      return got.some((id) => id >= 10);
    }, 15_000, 100);
    console.log(`rabbitmq silent path: publish failed with 408 after ${timedOutMs} ms; consuming again ${Date.now() - lostAt} ms later (heartbeat 1 s)`);
  });
});
