import type { Event } from '../../../lib/broker/broker';
import { createBroker, type MqttBroker } from '../../../plugins/mqtt';
import type { MqttSubscription } from '../../../plugins/mqtt/subscription';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/**
 * A private mosquitto stopped and started again mid-run: publishes during the outage fail fast with 503, every
 * subscriber reconnects and subscribes again by itself, exactly once, and afterwards each event reaches each
 * subscriber exactly once (and a queue group's members, once between them).
 */

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('mqtt', 'mqtt broker through a mosquitto restart', () => {
  let mosquitto: EngineInstance;
  const open: MqttBroker[] = [];
  const broker = async () => {
    const b = createBroker({ url: mosquitto.address, timeout: 1000, reconnectMin: 100, reconnectMax: 1000 });
    open.push(b);
    await b.connect();
    return b;
  };

  beforeAll(async () => {
    mosquitto = await EngineInstance.start('mqtt');
  }, 30_000);

  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
    await mosquitto?.destroy();
  });

  test('publishes fail fast while it is down; afterwards every event arrives exactly once per subscriber', async () => {
    const topic = uniqueTopic('outage');
    const got = { a: [] as number[], b: [] as number[], q1: [] as number[], q2: [] as number[] };
    const subs: MqttSubscription[] = [];
    for (const [who, queue] of [['a'], ['b'], ['q1', 'workers'], ['q2', 'workers']] as const) {
      const b = await broker();
      subs.push((await b.subscribe(topic, (e) => void got[who].push(idOf(e)), { queue })) as MqttSubscription);
    }
    const pub = await broker();
    for (let id = 0; id < 10; id++) await pub.publish(event(topic, id));
    await eventually(() => got.a.length === 10 && got.b.length === 10 && got.q1.length + got.q2.length === 10, 5000);

    await mosquitto.stop();
    const failures: number[] = [];
    for (let id = 100; id < 105; id++) {
      const t = Date.now();
      await expect(pub.publish(event(topic, id))).rejects.toMatchObject({ code: 503 });
      failures.push(Date.now() - t);
      // Spread over 1.5 s of outage, so the clients go through a few reconnect attempts with growing delays.
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(Math.max(...failures)).toBeLessThan(50);

    await mosquitto.start();
    const restarted = Date.now();
    // Probe until every subscriber is back (a clean session hears nothing until its subscription is made again).
    let probe = 1000;
    await eventually(
      async () => {
        await pub.publish(event(topic, probe++)).catch(() => undefined);
        const seen = (list: number[]) => list.some((id) => id >= 1000);
        return seen(got.a) && seen(got.b) && seen(got.q1.concat(got.q2));
      },
      15_000,
      100,
    );
    const backMs = Date.now() - restarted;
    // The shared group's other member may restore a moment later; wait until each connection has restored once.
    await eventually(() => subs.every((s) => s.restores === 1), 5000);

    const N = 40;
    for (let id = 200; id < 200 + N; id++) await pub.publish(event(topic, id));
    const expected = Array.from({ length: N }, (_, i) => 200 + i);
    const after = (list: number[]) => list.filter((id) => id >= 200 && id < 1000);
    await eventually(() => after(got.a).length >= N && after(got.b).length >= N && after(got.q1).length + after(got.q2).length >= N, 5000);
    // A moment for a duplicate to show up before counting.
    await new Promise((r) => setTimeout(r, 300));
    process.stdout.write(
      `mqtt outage: publishes while down failed in ${failures.join('/')} ms; subscribers back ${backMs} ms after the restart; ` +
        `after it: a ${after(got.a).length}, b ${after(got.b).length}, queue ${after(got.q1).length} + ${after(got.q2).length} of ${N}\n`,
    );
    expect(after(got.a)).toEqual(expected);
    expect(after(got.b)).toEqual(expected);
    expect([...after(got.q1), ...after(got.q2)].sort((x, y) => x - y)).toEqual(expected);
    // Nothing from the outage was sent late: the failed publishes were not queued.
    for (const list of Object.values(got)) expect(list.filter((id) => id >= 100 && id < 105)).toEqual([]);
    expect(subs.map((s) => s.restores)).toEqual([1, 1, 1, 1]);
  }, 60_000);
});
