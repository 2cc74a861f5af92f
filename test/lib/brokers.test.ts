import { Service, Subscribe, type Context } from '../../lib';
import { eventually } from '../helpers/process';
import { newNamespace, stopAll, testService } from '../helpers/services';

afterEach(stopAll);

function recorder(topic: string, queue?: string) {
  @Service({ name: 'rec' })
  class Recorder {
    readonly got: { id: number; meta: Record<string, string> }[] = [];
    @Subscribe(topic, { queue })
    async on(event: { id: number }, ctx: Context): Promise<void> {
      this.got.push({ id: event.id, meta: { ...ctx.metadata } });
    }
  }
  return new Recorder();
}

describe.each(['memory', 'p2p'])('%s broker', (broker) => {
  async function subscriber(namespace: string, topic: string, queue?: string) {
    const handler = recorder(topic, queue);
    const service = testService({ name: `sub-${queue ?? 'all'}`, broker, namespace });
    service.handle(handler);
    await service.start();
    return handler;
  }

  test('subscribers without a queue each get every event; a queue group splits them', async () => {
    const namespace = newNamespace();
    const topic = 'orders.created';
    const fanA = await subscriber(namespace, topic);
    const fanB = await subscriber(namespace, topic);
    const q1 = await subscriber(namespace, topic, 'billing');
    const q2 = await subscriber(namespace, topic, 'billing');
    const publisher = testService({ name: 'pub', broker, namespace });
    const N = 20;
    for (let id = 0; id < N; id++) await publisher.publish(topic, { id }, { metadata: { origin: 'test' } });
    await eventually(() => fanA.got.length === N && fanB.got.length === N && q1.got.length + q2.got.length === N, 3000);
    expect(fanA.got.map((g) => g.id)).toEqual([...Array(N).keys()]);
    expect(fanB.got.map((g) => g.id)).toEqual([...Array(N).keys()]);
    // Every event reached exactly one member of the queue group, and both members got some.
    const queued = [...q1.got, ...q2.got].map((g) => g.id).sort((a, b) => a - b);
    expect(queued).toEqual([...Array(N).keys()]);
    expect(q1.got.length).toBeGreaterThan(0);
    expect(q2.got.length).toBeGreaterThan(0);
    expect(fanA.got[0].meta.origin).toBe('test');
  });

  test('publishing to a topic nobody subscribes to succeeds and delivers nothing', async () => {
    const publisher = testService({ name: 'pub', broker, namespace: newNamespace() });
    await expect(publisher.publish('nobody.listens', { id: 1 })).resolves.toBeUndefined();
  });

  test('after stop a subscriber gets no more events', async () => {
    const namespace = newNamespace();
    const handler = recorder('t.stop');
    const service = testService({ name: 'sub', broker, namespace });
    service.handle(handler);
    await service.start();
    const publisher = testService({ name: 'pub', broker, namespace });
    await publisher.publish('t.stop', { id: 1 });
    await eventually(() => handler.got.length === 1);
    await service.stop();
    await publisher.publish('t.stop', { id: 2 }).catch(() => undefined);
    expect(handler.got.map((g) => g.id)).toEqual([1]);
  });
});

describe('p2p broker failures', () => {
  test('a queue member that cannot be reached is skipped: the event goes to another member', async () => {
    const namespace = newNamespace();
    const live = recorder('jobs', 'workers');
    const service = testService({ name: 'worker', broker: 'p2p', namespace });
    service.handle(live);
    await service.start();
    const publisher = testService({ name: 'pub', broker: 'p2p', namespace });
    const dead = { id: 'dead-1', address: '127.0.0.1:1', metadata: { queue: 'workers' } };
    await publisher.registry.register({ name: 'phobos.topic.jobs', version: 'p2p', metadata: {}, endpoints: [], nodes: [dead] });
    for (let id = 0; id < 6; id++) await publisher.publish('jobs', { id });
    expect(live.got.map((g) => g.id)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('publish fails with 503 when no subscriber at all can be reached', async () => {
    const publisher = testService({ name: 'pub', broker: 'p2p', namespace: newNamespace() });
    const dead = { id: 'dead-2', address: '127.0.0.1:1', metadata: { queue: '' } };
    await publisher.registry.register({ name: 'phobos.topic.lost', version: 'p2p', metadata: {}, endpoints: [], nodes: [dead] });
    await expect(publisher.publish('lost', { id: 1 })).rejects.toMatchObject({ code: 503 });
  });
});
