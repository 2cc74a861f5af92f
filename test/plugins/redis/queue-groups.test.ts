import type { Event } from '../../../lib/broker/broker';
import { decodeEvent } from '../../../lib/broker/envelope';
import { RedisBroker, type RedisBrokerOptions } from '../../../plugins/redis';
import { describeEngine } from '../../helpers/engines';
import { Child, eventually, killAll } from '../../helpers/process';
import { deleteKeys, inspector, REDIS, uniquePrefix } from './helpers';

/** Queue groups on Redis streams: claiming what a dead member left, dead letters, durable and non-durable groups. */

const idOf = (e: Event): number => (JSON.parse(Buffer.from(e.body).toString()) as { id: number }).id;
const event = (topic: string, id: number): Event => ({ topic, codec: 2, body: Buffer.from(JSON.stringify({ id })), metadata: { n: String(id) } });

describeEngine('redis', 'redis queue groups', () => {
  const prefix = uniquePrefix('groups');
  const redis = inspector();
  const open: RedisBroker[] = [];
  const broker = async (options: RedisBrokerOptions = {}) => {
    const b = new RedisBroker({ address: REDIS, prefix, ...options });
    open.push(b);
    await b.connect();
    return b;
  };
  const pendingCount = async (topic: string, group: string) => Number(((await redis.xpending(`${prefix}:events:${topic}`, group)) as unknown[])[0]);

  afterEach(async () => {
    await killAll();
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    redis.disconnect();
    await deleteKeys(prefix);
  });

  test('a member SIGKILLed while holding events: another member claims them and handles each once', async () => {
    const topic = 'jobs.stuck';
    const queue = 'claimers';
    const child = new Child('test/fixtures/redis-stuck-consumer.js', [], { REDIS_ADDRESS: REDIS, REDIS_PREFIX: prefix, REDIS_TOPIC: topic, REDIS_QUEUE: queue });
    await child.waitFor(/^READY/);
    const pub = await broker();
    const N = 8;
    for (let id = 0; id < N; id++) await pub.publish(event(topic, id));
    await child.waitFor(/^GOT \{"id":0\}/);
    // Everything went to the only member, which acknowledges nothing.
    await eventually(async () => (await pendingCount(topic, queue)) === N, 5000);

    child.kill('SIGKILL');
    await child.exited;
    const killed = Date.now();
    const handled: number[] = [];
    const survivor = await broker({ claimIdleMs: 500, claimIntervalMs: 100 });
    await survivor.subscribe(topic, (e) => void handled.push(idOf(e)), { queue, durable: true });
    await eventually(() => handled.length >= N, 5000);
    await eventually(async () => (await pendingCount(topic, queue)) === 0, 2000);
    console.log(`redis claim: ${N} entries of a SIGKILLed member claimed and handled ${Date.now() - killed} ms after the kill`);
    expect([...handled].sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
  });

  test('an event whose handler keeps failing is tried maxDeliveries times, then moved to the dead-letter stream', async () => {
    const topic = 'jobs.poison';
    const attempts = new Map<number, number>();
    const b = await broker({ maxDeliveries: 3, retryDelayMs: 100 });
    await b.subscribe(
      topic,
      (e) => {
        const id = idOf(e);
        attempts.set(id, (attempts.get(id) ?? 0) + 1);
        if (id === 1) throw new Error('poison');
      },
      { queue: 'workers' },
    );
    const pub = await broker();
    for (let id = 0; id < 3; id++) await pub.publish(event(topic, id));
    const dead = `${prefix}:dead:${topic}`;
    await eventually(async () => (await redis.xlen(dead)) > 0, 5000);
    const entries = await redis.xrangeBuffer(dead, '-', '+');
    expect(entries).toHaveLength(1);
    const fields = new Map<string, Buffer>();
    for (let i = 0; i < entries[0][1].length; i += 2) fields.set(entries[0][1][i].toString(), entries[0][1][i + 1]);
    expect(fields.get('group')?.toString()).toBe('workers');
    expect(fields.get('deliveries')?.toString()).toBe('3');
    const moved = decodeEvent(topic, fields.get('e')!);
    expect(idOf(moved)).toBe(1);
    expect(moved.metadata).toEqual({ n: '1' });
    expect(Object.fromEntries(attempts)).toEqual({ 0: 1, 1: 3, 2: 1 });
    await eventually(async () => (await pendingCount(topic, 'workers')) === 0, 2000);
  });

  test('a durable group keeps what is published while no member is there; a non-durable group goes with its last member', async () => {
    const topic = 'jobs.kept';
    const stream = `${prefix}:events:${topic}`;
    const pub = await broker();

    const first = await broker();
    const sub = await first.subscribe(topic, () => undefined, { queue: 'keepers', durable: true });
    const passing = await (await broker()).subscribe(topic, () => undefined, { queue: 'passers' });
    await sub.unsubscribe();
    await passing.unsubscribe();
    // Only the durable group is left on the stream.
    expect((await redis.xinfo('GROUPS', stream)) as unknown[]).toHaveLength(1);

    for (let id = 0; id < 3; id++) await pub.publish(event(topic, id));
    const got: number[] = [];
    await (await broker()).subscribe(topic, (e) => void got.push(idOf(e)), { queue: 'keepers', durable: true });
    await eventually(() => got.length >= 3, 5000);
    expect(got.sort()).toEqual([0, 1, 2]);

    // A topic read only by a non-durable group: its stream is gone when the group's last member leaves, and a
    // publish to it afterwards does not create one.
    const other = 'jobs.passing';
    const s = await (await broker()).subscribe(other, () => undefined, { queue: 'passers' });
    expect(await redis.exists(`${prefix}:events:${other}`)).toBe(1);
    await s.unsubscribe();
    await pub.publish(event(other, 1));
    expect(await redis.exists(`${prefix}:events:${other}`)).toBe(0);
  });
});
