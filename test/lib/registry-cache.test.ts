import { MemoryRegistry } from '../../lib';
import { RegistryCache } from '../../lib/registry/cache';
import type { ServiceRecord } from '../../lib/registry/registry';

/** A memory registry that counts lookups, so the test sees which answers came from the cache. */
class CountingRegistry extends MemoryRegistry {
  lookups = 0;
  override getService(name: string): Promise<ServiceRecord[]> {
    this.lookups++;
    return super.getService(name);
  }
}

const record = (name: string): ServiceRecord => ({
  name,
  version: '1.0.0',
  metadata: {},
  endpoints: [],
  nodes: [{ id: `${name}-1`, address: '127.0.0.1:1', metadata: {} }],
});

let n = 0;
const caches: RegistryCache[] = [];
function setup(maxMisses?: number): { registry: CountingRegistry; cache: RegistryCache } {
  const registry = new CountingRegistry({ namespace: `cache-${++n}` });
  const cache = new RegistryCache(registry, { maxMisses });
  caches.push(cache);
  return { registry, cache };
}
afterEach(() => caches.splice(0).forEach((c) => c.close()));

describe('the registry cache', () => {
  test('names with no nodes are remembered up to maxMisses, the oldest forgotten first', async () => {
    const { registry, cache } = setup(100);
    await registry.register(record('real'));
    await cache.getService('real');
    for (let i = 0; i < 5000; i++) await expect(cache.getService(`random-${i}`)).resolves.toEqual([]);
    // One real service plus the 100 most recent misses: random names cannot grow memory without bound.
    expect(cache.size).toBe(101);
    const before = registry.lookups;
    await cache.getService('random-4999'); // remembered: no lookup
    await cache.getService('random-0'); // forgotten long ago: looked up again
    await cache.getService('real'); // never evicted by misses
    expect(registry.lookups - before).toBe(1);
  });

  test('a miss is answered from the cache for a moment, and a later registration is then found', async () => {
    const { registry, cache } = setup();
    await expect(cache.getService('late')).resolves.toEqual([]);
    const lookups = registry.lookups;
    await expect(cache.getService('late')).resolves.toEqual([]);
    expect(registry.lookups).toBe(lookups);
    await registry.register(record('late'));
    const deadline = Date.now() + 2000;
    let found: ServiceRecord[] = [];
    while (found.length === 0 && Date.now() < deadline) {
      found = await cache.getService('late');
      if (found.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(found.map((r) => r.nodes[0].id)).toEqual(['late-1']);
  });
});
