import type { Event } from '../../../lib/broker/broker';
import { RpcError } from '../../../lib/errors';
import { RedisBroker, RedisRegistry } from '../../../plugins/redis';
import { record } from '../../conformance/registry';
import { describeEngine, EngineInstance } from '../../helpers/engines';
import { eventually } from '../../helpers/process';
import { uniquePrefix } from './helpers';

/**
 * A private redis-server is killed (SIGKILL) and started again, empty, on the same port, while brokers and
 * registries are connected to it. What must hold: publishes during the outage fail fast with 503; subscribers and
 * queue groups come back by themselves and get each later event exactly once; the registry puts its node back.
 */

const idOf = (e: Event): string => (JSON.parse(Buffer.from(e.body).toString()) as { id: string }).id;
const event = (topic: string, id: string): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: {} });

describeEngine('redis', 'redis broker and registry across a server crash and restart', () => {
  let server: EngineInstance;
  const open: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.allSettled(open.map((c) => c.close()));
    await server?.destroy();
  });

  test('outage: fail fast with 503; afterwards every subscriber and group is back, each event once', async () => {
    server = await EngineInstance.start('redis');
    const prefix = uniquePrefix('outage');
    const broker = async () => {
      const b = new RedisBroker({ address: server.address, prefix, publishTimeoutMs: 2000, connectTimeoutMs: 2000 });
      open.push(b);
      await b.connect();
      return b;
    };
    const topic = 'orders.placed';
    const got: Record<string, string[]> = { fanA: [], fanB: [], workers1: [], workers2: [], audit: [] };
    const subscribe = async (who: string, queue?: string, durable?: boolean) =>
      (await broker()).subscribe(topic, (e) => void got[who].push(idOf(e)), { queue, durable });
    await subscribe('fanA');
    await subscribe('fanB');
    await subscribe('workers1', 'workers');
    await subscribe('workers2', 'workers');
    await subscribe('audit', 'audit', true);
    const pub = await broker();

    const registry = new RedisRegistry({ address: server.address, prefix, commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
    const observer = new RedisRegistry({ address: server.address, prefix, connectTimeoutMs: 2000 });
    open.push(registry, observer);
    await observer.connect();
    const name = 'outage-svc';
    const rec = record(name, [`${name}-1`]);
    await registry.register(rec, { ttl: 30 });
    expect((await observer.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`]);

    await pub.publish(event(topic, 'before'));
    await eventually(() => Object.values(got).filter((ids) => ids.includes('before')).length === 4, 5000);

    await server.stop('SIGKILL');

    // During the outage (kept for about a second, while ioredis retries): every publish fails with 503 at once,
    // and so does a registry lookup.
    const took: number[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      const started = Date.now();
      const err = await pub.publish(event(topic, `lost-${i}`)).then(() => undefined, (e: unknown) => e);
      took.push(Date.now() - started);
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).code).toBe(503);
    }
    const lookupStarted = Date.now();
    await expect(observer.getService(name)).rejects.toMatchObject({ code: 503 });
    const lookupTook = Date.now() - lookupStarted;
    console.log(`redis outage: 5 publishes failed with 503 in ${took.join(', ')} ms; a registry lookup in ${lookupTook} ms`);
    expect(Math.max(...took, lookupTook)).toBeLessThan(500);

    const restarted = Date.now();
    await server.start();

    // The registry registers its node again by itself (the restarted server has no data: --save '', no AOF; and
    // nobody calls register() again).
    // Watchers are not asserted on here: one whose connection comes back after the re-registration misses it.
    await eventually(async () => (await observer.getService(name)).length === 1, 5000);
    expect((await observer.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`]);
    const registryBack = Date.now() - restarted;

    // Subscribers come back on their own: probe until each fan-out subscriber and each group has seen one.
    let probes = 0;
    await eventually(
      async () => {
        await pub.publish(event(topic, `probe-${probes++}`)).catch(() => undefined);
        const saw = (who: string[]) => who.some((w) => got[w].some((id) => id.startsWith('probe-')));
        return saw(['fanA']) && saw(['fanB']) && saw(['workers1', 'workers2']) && saw(['audit']);
      },
      15_000,
      100,
    );
    const subscribersBack = Date.now() - restarted;

    const N = 20;
    for (let i = 0; i < N; i++) await pub.publish(event(topic, `after-${i}`));
    const after = (ids: string[]) => ids.filter((id) => id.startsWith('after-'));
    const expected = [...Array(N).keys()].map((i) => `after-${i}`);
    await eventually(
      () =>
        after(got.fanA).length >= N && after(got.fanB).length >= N && after([...got.workers1, ...got.workers2]).length >= N && after(got.audit).length >= N,
      5000,
    );
    // A moment for a duplicate to show up before counting (nothing else signals "no more events").
    await new Promise((r) => setTimeout(r, 300));
    expect(after(got.fanA)).toEqual(expected);
    expect(after(got.fanB)).toEqual(expected);
    expect(after([...got.workers1, ...got.workers2]).sort()).toEqual([...expected].sort());
    expect(after(got.audit).sort()).toEqual([...expected].sort());
    for (const ids of Object.values(got)) expect(ids.filter((id) => id.startsWith('lost-'))).toEqual([]);
    console.log(
      `redis restart: registry node back after ${registryBack} ms, every subscriber back after ${subscribersBack} ms (${probes} probes); ` +
        `${N} events after it: fan-out ${after(got.fanA).length}/${after(got.fanB).length}, ` +
        `group "workers" ${after(got.workers1).length} + ${after(got.workers2).length}, group "audit" ${after(got.audit).length}`,
    );
  }, 60_000);
});
