import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { pluginFactory } from '../../../lib/plugins';
import { resolveConfig } from '../../../lib/flags';
import { silentLogger } from '../../../lib/observe/logger';
import { RedisBroker, RedisRegistry } from '../../../plugins/redis';
import { record } from '../../conformance/registry';
import { describeEngine, freePort } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { deleteKeys, inspector, REDIS, uniquePrefix } from './helpers';

/** The edges: an unreachable server, bad bytes on the wire, addresses as URLs, and the catalog's factories. */

const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;
const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });

test('nobody listening: connect, publish and registry calls fail with 503 within their deadline', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const broker = new RedisBroker({ address, connectTimeoutMs: 300 });
  const registry = new RedisRegistry({ address, connectTimeoutMs: 300 });
  try {
    const started = Date.now();
    await expect(broker.connect()).rejects.toMatchObject({ code: 503 });
    await expect(broker.publish(event('t', 1))).rejects.toMatchObject({ code: 503 });
    await expect(broker.subscribe('t', () => undefined, { queue: 'q' })).rejects.toBeInstanceOf(RpcError);
    await expect(registry.getService('x')).rejects.toMatchObject({ code: 503 });
    await expect(registry.register(record('x', ['x-1']))).rejects.toMatchObject({ code: 503 });
    expect(Date.now() - started).toBeLessThan(3000);
  } finally {
    await broker.close();
    await registry.close();
  }
});

describeEngine('redis', 'redis plugin edges', () => {
  const prefix = uniquePrefix('edges');
  const redis = inspector();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    redis.disconnect();
    await deleteKeys(prefix);
  });

  test('malformed envelopes on the channel and on the stream are dropped (and acknowledged); later events arrive', async () => {
    const b = new RedisBroker({ address: REDIS, prefix });
    open.push(b);
    const topic = 'bad.bytes';
    const fanout: number[] = [];
    const group: number[] = [];
    await b.subscribe(topic, (e) => void fanout.push(idOf(e)));
    await b.subscribe(topic, (e) => void group.push(idOf(e)), { queue: 'q' });
    const key = `${prefix}:events:${topic}`;
    await redis.publish(key, Buffer.from([9, 9, 9]));
    await redis.xadd(key, '*', 'e', Buffer.from([1, 2, 0, 0, 0, 99]));
    await redis.xadd(key, '*', 'other', 'field');
    await b.publish(event(topic, 7));
    await eventually(() => fanout.length === 1 && group.length === 1, 3000);
    expect(fanout).toEqual([7]);
    expect(group).toEqual([7]);
    await eventually(async () => Number(((await redis.xpending(key, 'q')) as unknown[])[0]) === 0, 2000);
  });

  test('redis:// addresses are accepted; the catalog builds both parts from flags', async () => {
    const config = resolveConfig({}, [`--broker_address=redis://${REDIS}/0`, `--registry_address=redis://${REDIS}`, '--register_ttl=5', '--register_interval=1s'], {});
    const ctx = { config, logger: silentLogger, options: { prefix } };
    const broker = pluginFactory('broker', 'redis')(ctx) as RedisBroker;
    const registry = pluginFactory('registry', 'redis')(ctx) as RedisRegistry;
    open.push(broker, registry);
    expect(broker).toBeInstanceOf(RedisBroker);
    expect(registry).toBeInstanceOf(RedisRegistry);
    await broker.connect();
    const got: number[] = [];
    await broker.subscribe('url.topic', (e) => void got.push(idOf(e)));
    await broker.publish(event('url.topic', 3));
    await eventually(() => got.length === 1, 3000);
    // register_ttl is the default TTL: the node key expires in about 5 s.
    await registry.register(record('url-svc', ['url-svc-1']));
    const ttl = await redis.pttl(`${prefix}:registry:node:url-svc:url-svc-1`);
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
    await registry.deregister(record('url-svc', ['url-svc-1']));
  });
});
