import { MemoryRegistry, RegistryCache, type Registry, type ServiceRecord, type Watcher } from '../../lib';
import { DefaultSelector } from '../../lib/selector/default';

let ns = 0;
async function setup(nodes: { id: string; version?: string }[]) {
  const registry = new MemoryRegistry({ namespace: `selector-${++ns}` });
  for (const n of nodes) {
    await registry.register({ name: 's', version: n.version ?? '1', metadata: {}, endpoints: [], nodes: [{ id: n.id, address: `127.0.0.1:${1000 + Number(n.id.slice(1))}`, metadata: {} }] });
  }
  return new RegistryCache(registry);
}

describe('selector', () => {
  test('round-robin visits every node in turn', async () => {
    const selector = new DefaultSelector({ cache: await setup([{ id: 'n1' }, { id: 'n2' }, { id: 'n3' }]), strategy: 'roundrobin' });
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push((await selector.select('s'))()!.id);
    expect(seen).toEqual(['n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1', 'n2', 'n3']);
  });

  test('random spreads calls evenly within statistical bounds', async () => {
    const selector = new DefaultSelector({ cache: await setup([{ id: 'n1' }, { id: 'n2' }, { id: 'n3' }, { id: 'n4' }]) });
    const counts = new Map<string, number>();
    const N = 8000;
    for (let i = 0; i < N; i++) {
      const id = (await selector.select('s'))()!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Expected 2000 each; the standard deviation is about 39, so ±250 is over six sigmas.
    for (const c of counts.values()) expect(Math.abs(c - N / 4)).toBeLessThan(250);
    expect(counts.size).toBe(4);
  });

  test('one call retrying with next() moves to another node', async () => {
    const selector = new DefaultSelector({ cache: await setup([{ id: 'n1' }, { id: 'n2' }]) });
    for (let i = 0; i < 50; i++) {
      const next = await selector.select('s');
      expect(next()!.id).not.toBe(next()!.id);
    }
  });

  test('the version filter keeps only that version', async () => {
    const selector = new DefaultSelector({ cache: await setup([{ id: 'n1', version: '1' }, { id: 'n2', version: '2' }]) });
    for (let i = 0; i < 20; i++) expect((await selector.select('s', { version: '2' }))()!.id).toBe('n2');
    await expect(selector.select('s', { version: '3' })).rejects.toMatchObject({ code: 503, detail: 'no nodes of s version 3' });
  });

  test('a node marked failed is avoided while it cools down, unless it is the only one', async () => {
    const selector = new DefaultSelector({ cache: await setup([{ id: 'n1' }, { id: 'n2' }]), coolDown: 60_000 });
    const n1 = (await selector.select('s', { strategy: 'roundrobin' }))()!;
    expect(n1.id).toBe('n1');
    selector.mark('s', n1, new Error('refused'));
    for (let i = 0; i < 10; i++) expect((await selector.select('s'))()!.id).toBe('n2');
    selector.mark('s', { ...n1, id: 'n2' }, new Error('refused'));
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await selector.select('s'))()!.id);
    expect(ids).toEqual(new Set(['n1', 'n2']));
  });
});

describe('registry cache', () => {
  test('keeps serving the last good view when the registry fails, and sees changes through the watch', async () => {
    const inner = new MemoryRegistry({ namespace: `cache-${++ns}` });
    let down = false;
    let lookups = 0;
    const flaky: Registry = {
      name: 'flaky',
      register: (s, o) => inner.register(s, o),
      deregister: (s) => inner.deregister(s),
      getService: async (n) => {
        lookups++;
        if (down) throw new Error('registry unreachable');
        return inner.getService(n);
      },
      listServices: () => inner.listServices(),
      watch: (o): Watcher => inner.watch(o),
      close: () => inner.close(),
    };
    const record: ServiceRecord = { name: 's', version: '1', metadata: {}, endpoints: [], nodes: [{ id: 'a', address: '127.0.0.1:1', metadata: {} }] };
    await inner.register(record);
    const cache = new RegistryCache(flaky, { ttl: 50 });
    expect((await cache.getService('s'))[0].nodes.map((n) => n.id)).toEqual(['a']);
    expect(await cache.getService('s')).toBe(await cache.getService('s'));
    expect(lookups).toBe(1);
    await inner.register({ ...record, nodes: [{ id: 'b', address: '127.0.0.1:2', metadata: {} }] });
    await new Promise((r) => setImmediate(r));
    expect((await cache.getService('s'))[0].nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    down = true;
    await new Promise((r) => setTimeout(r, 60));
    expect((await cache.getService('s'))[0].nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    cache.close();
  });
});
