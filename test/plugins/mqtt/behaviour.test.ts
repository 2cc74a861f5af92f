import { connect as mqttConnect } from 'mqtt';
import type { Event } from '../../../lib/broker/broker';
import { createBroker, type MqttBroker } from '../../../plugins/mqtt';
import { uniqueTopic } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES, freePort } from '../../helpers/engines';
import { eventually } from '../../helpers/process';

/** What the conformance suite does not cover: handling order, bad input on the wire, and a server that is not there. */

const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });
const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;

describeEngine('mqtt', 'mqtt broker behaviour', () => {
  const open: MqttBroker[] = [];
  const broker = (url = ENGINE_ADDRESSES.mqtt) => {
    const b = createBroker({ url, timeout: 2000, connectTimeout: 2000 });
    open.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  test('a handler runs before the next event of its subscription starts: one at a time, in order', async () => {
    const topic = uniqueTopic('serial');
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    await broker().subscribe(topic, async (e) => {
      running++;
      most = Math.max(most, running);
      seen.push(idOf(e));
      if (idOf(e) === 0) await first;
      running--;
    });
    const pub = broker();
    for (let id = 0; id < 5; id++) await pub.publish(event(topic, id));
    await eventually(() => seen.length === 1, 2000);
    // Events 1..4 are at the server or in our socket, but none is handled while event 0's handler is pending.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([0]);
    release();
    await eventually(() => seen.length === 5, 2000);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(1);
  });

  test('a handler may publish through the same broker (its publishes have a connection of their own)', async () => {
    const [inbox, outbox] = [uniqueTopic('inbox'), uniqueTopic('outbox')];
    const b = broker();
    const forwarded: number[] = [];
    await b.subscribe(outbox, (e) => void forwarded.push(idOf(e)));
    await b.subscribe(inbox, async (e) => b.publish(event(outbox, idOf(e) * 10)));
    for (let id = 1; id <= 3; id++) await b.publish(event(inbox, id));
    await eventually(() => forwarded.length === 3, 3000);
    expect(forwarded).toEqual([10, 20, 30]);
  });

  test('a malformed envelope is dropped and acknowledged; the events after it arrive', async () => {
    const topic = uniqueTopic('malformed');
    const seen: number[] = [];
    await broker().subscribe(topic, (e) => void seen.push(idOf(e)));
    const raw = mqttConnect(ENGINE_ADDRESSES.mqtt, { protocolVersion: 5 });
    try {
      await new Promise<void>((resolve, reject) => raw.once('connect', () => resolve()).once('error', reject));
      await raw.publishAsync(topic, Buffer.from([9, 9, 9]), { qos: 1 }); // version 9, shorter than a header
      await raw.publishAsync(topic, Buffer.from([1, 2, 0, 0, 0, 50, 1]), { qos: 1 }); // metadata runs past the end
    } finally {
      await raw.endAsync();
    }
    await broker().publish(event(topic, 7));
    await eventually(() => seen.length === 1, 3000);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([7]);
  });

  test('topics MQTT cannot publish to are refused with 400, before they reach the server', async () => {
    const b = broker();
    for (const topic of ['a/+/b', 'a/#', '$SYS/x', '']) {
      await expect(b.publish(event(topic, 1))).rejects.toMatchObject({ code: 400 });
    }
    await expect(b.subscribe('t', () => undefined, { queue: 'a/b' })).rejects.toMatchObject({ code: 400 });
    // The connection survived: a good publish still goes through.
    await expect(b.publish(event(uniqueTopic('fine'), 1))).resolves.toBeUndefined();
  });

  test('with no server there, connect, publish and subscribe fail fast with 503', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const b = broker(url);
    let t = Date.now();
    await expect(b.connect()).rejects.toMatchObject({ code: 503 });
    expect(Date.now() - t).toBeLessThan(500);
    t = Date.now();
    await expect(b.publish(event('x', 1))).rejects.toMatchObject({ code: 503 });
    await expect(broker(url).subscribe('x', () => undefined)).rejects.toMatchObject({ code: 503 });
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
