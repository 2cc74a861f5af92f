import { availablePlugins } from '../../lib';
import { eventually } from '../helpers/process';
import { testService, stopAll } from '../helpers/services';
import { call, closeSelectors, countIds, holdInFlight, manualClock, nextOf, nodeRecord, selectorOver } from './selector-setup';

afterEach(closeSelectors);

describe('weighted (smooth weighted round-robin, as nginx)', () => {
  test('weights {a:5, b:1, c:1} give exactly a a b a c a a, cycle after cycle', async () => {
    const { selector } = await selectorOver(
      [
        { id: 'a', metadata: { weight: '5' } },
        { id: 'b', metadata: { weight: '1' } },
        { id: 'c', metadata: { weight: '1' } },
      ],
      { strategy: 'weighted' },
    );
    const seen: string[] = [];
    for (let i = 0; i < 21; i++) seen.push(await call(selector));
    expect(seen.join(' ')).toBe('a a b a c a a a a b a c a a a a b a c a a');
  });

  test('every full cycle hands out each node exactly its weight; a missing or invalid weight counts as 1', async () => {
    const { selector } = await selectorOver(
      [
        { id: 'w3', metadata: { weight: '3' } },
        { id: 'w2', metadata: { weight: '2' } },
        { id: 'none' },
        { id: 'zero', metadata: { weight: '0' } },
        { id: 'junk', metadata: { weight: 'heavy' } },
        { id: 'neg', metadata: { weight: '-4' } },
      ],
      { strategy: 'weighted' },
    );
    const total = 3 + 2 + 4; // the four unweighted nodes count 1 each
    for (let cycle = 0; cycle < 5; cycle++) {
      const ids: string[] = [];
      for (let i = 0; i < total; i++) ids.push(await call(selector));
      expect(Object.fromEntries(countIds(ids))).toEqual({ w3: 3, w2: 2, none: 1, zero: 1, junk: 1, neg: 1 });
    }
  });

  test('a node joining starts a fresh cycle over the new set, with the new weights', async () => {
    const { selector, registry, cache } = await selectorOver(
      [
        { id: 'a', metadata: { weight: '2' } },
        { id: 'b', metadata: { weight: '1' } },
      ],
      { strategy: 'weighted' },
    );
    const first: string[] = [];
    for (let i = 0; i < 3; i++) first.push(await call(selector));
    expect(first).toEqual(['a', 'b', 'a']);
    await registry.register({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [nodeRecord({ id: 'c', metadata: { weight: '3' } }, 9)] });
    await eventually(async () => (await cache.getService('s'))[0].nodes.length === 3);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await call(selector));
    // a:2 b:1 c:3 -> c a b c a c, twice: the smooth sequence of the new set from its start.
    expect(ids.join(' ')).toBe('c a b c a c c a b c a c');
  });
});

describe('hash (consistent hashing on SelectOptions.key)', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  const four = ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id }));

  async function mapping(selector: Awaited<ReturnType<typeof selectorOver>>['selector']): Promise<string[]> {
    const out: string[] = [];
    for (const key of keys) out.push((await nextOf(selector, { key }))()!.id);
    return out;
  }

  test('the same key reaches the same node, from any selector; keys spread over every node', async () => {
    const { selector } = await selectorOver(four, { strategy: 'hash' });
    const again = (await selectorOver(four, { strategy: 'hash' })).selector;
    for (const key of keys.slice(0, 1000)) {
      const id = (await nextOf(selector, { key }))()!.id;
      expect((await nextOf(selector, { key }))()!.id).toBe(id);
      expect((await nextOf(again, { key }))()!.id).toBe(id);
    }
    const counts = countIds(await mapping(selector));
    expect(counts.size).toBe(4);
    for (const c of counts.values()) expect(c / keys.length).toBeGreaterThan(0.15); // 100 points per node: ~25% each
  });

  test('a fifth node takes about 1/5 of the keys, all from the others; when a node leaves only its keys move', async () => {
    const { selector, registry, cache } = await selectorOver(four, { strategy: 'hash' });
    const before = await mapping(selector);
    await registry.register({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [nodeRecord({ id: 'n5' }, 5)] });
    await eventually(async () => (await cache.getService('s'))[0].nodes.length === 5);
    const after = await mapping(selector);
    const moved = keys.filter((_, i) => before[i] !== after[i]);
    const joined = moved.length / keys.length;
    // Every key that moved went to the new node: nothing is reshuffled between the nodes that stayed.
    expect(keys.every((_, i) => before[i] === after[i] || after[i] === 'n5')).toBe(true);
    expect(joined).toBeGreaterThan(0.1);
    expect(joined).toBeLessThan(0.3);

    await registry.deregister({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [nodeRecord({ id: 'n2' }, 1)] });
    await eventually(async () => (await cache.getService('s'))[0].nodes.length === 4);
    const left = await mapping(selector);
    const movedOnLeave = keys.filter((_, i) => after[i] !== left[i]).length / keys.length;
    expect(keys.every((_, i) => after[i] === left[i] || after[i] === 'n2')).toBe(true);
    expect(left).not.toContain('n2');
    expect(movedOnLeave).toBeGreaterThan(0.1);
    expect(movedOnLeave).toBeLessThan(0.3);
    console.log(`hash: keys moved when a 5th node joined: ${(joined * 100).toFixed(1)}%, when one of 5 left: ${(movedOnLeave * 100).toFixed(1)}% (ideal 20%)`);
  });

  test('retries walk to the next distinct nodes, the same way for the same key; no key falls back to random', async () => {
    const { selector } = await selectorOver(four, { strategy: 'hash' });
    for (const key of keys.slice(0, 200)) {
      const next = await nextOf(selector, { key });
      const walk = [next()!.id, next()!.id, next()!.id, next()!.id];
      expect(new Set(walk).size).toBe(4);
      expect(next()!.id).toBe(walk[0]); // past every node, the walk starts over
      const again = await nextOf(selector, { key });
      expect([again()!.id, again()!.id]).toEqual(walk.slice(0, 2));
    }
    const ids: string[] = [];
    for (let i = 0; i < 400; i++) ids.push(await call(selector));
    expect(countIds(ids).size).toBe(4);
  });
});

describe('leastinflight', () => {
  test('picks the idle node while the others have calls in flight, and takes turns once all are marked', async () => {
    const { selector } = await selectorOver([{ id: 'a' }, { id: 'b' }, { id: 'c' }], { strategy: 'leastinflight' });
    const held = await holdInFlight(selector, 2);
    expect(new Set(held.map((n) => n.id)).size).toBe(2);
    const idle = ['a', 'b', 'c'].find((id) => !held.some((n) => n.id === id));
    for (let i = 0; i < 10; i++) expect(await call(selector)).toBe(idle);
    // One of the busy nodes finishes: it is now tied with the idle one, and the two share the traffic.
    selector.mark('s', held[0], undefined, {});
    const ids = countIds(await Promise.all(Array.from({ length: 12 }, () => call(selector))));
    expect(ids.get(held[1].id)).toBeUndefined();
    expect(ids.get(held[0].id)).toBeGreaterThanOrEqual(3);
    expect(ids.get(idle!)).toBeGreaterThanOrEqual(3);
    selector.mark('s', held[1], undefined, {});
    const all: string[] = [];
    for (let i = 0; i < 300; i++) all.push(await call(selector));
    expect(Object.fromEntries(countIds(all))).toEqual({ a: 100, b: 100, c: 100 });
  });

  test('on a large set (sampled: power of two choices) the load stays close to even', async () => {
    const nodes = Array.from({ length: 40 }, (_, i) => ({ id: `n${i}` }));
    const { selector } = await selectorOver(nodes, { strategy: 'leastinflight' });
    const held = await holdInFlight(selector, 400); // 10 per node on average
    const loads = [...countIds(held.map((n) => n.id)).values()];
    // Random placement of 400 calls on 40 nodes typically reaches 17+ on the busiest node; with two choices the
    // busiest stayed at 11-13 in 20,000 simulated runs.
    expect(loads.length).toBe(40);
    expect(Math.max(...loads)).toBeLessThanOrEqual(14);
  });
});

describe('latency (EWMA of round trips)', () => {
  test('prefers the node with the lowest average, spreads under concurrency, and measures new nodes first', async () => {
    const clock = manualClock();
    const rtt: Record<string, number> = { a: 5, b: 50, c: 22, d: 100 };
    const { selector, registry, cache } = await selectorOver([{ id: 'a' }, { id: 'b' }, { id: 'c' }], { strategy: 'latency', now: clock.now });
    // Unmeasured nodes are tried first, so the first three calls measure all three.
    const firstThree: string[] = [];
    for (let i = 0; i < 3; i++) {
      const node = (await nextOf(selector))()!;
      firstThree.push(node.id);
      selector.mark('s', node, undefined, { rtt: rtt[node.id] });
    }
    expect([...firstThree].sort()).toEqual(['a', 'b', 'c']);
    for (let i = 0; i < 50; i++) expect(await call(selector, {}, undefined, rtt.a)).toBe('a');

    // Calls in flight raise a node's cost (ewma x (in flight + 1)): a (5) takes four at once, then c (22) is cheaper.
    const held = await holdInFlight(selector, 5);
    expect(held.map((n) => n.id)).toEqual(['a', 'a', 'a', 'a', 'c']);
    for (const n of held) selector.mark('s', n, undefined, { rtt: rtt[n.id] });

    await registry.register({ name: 's', version: '1', metadata: {}, endpoints: [], nodes: [nodeRecord({ id: 'd' }, 7)] });
    await eventually(async () => (await cache.getService('s'))[0].nodes.length === 4);
    expect(await call(selector, {}, undefined, rtt.d)).toBe('d'); // new: measured at once
    for (let i = 0; i < 20; i++) expect(await call(selector, {}, undefined, rtt.a)).toBe('a');

    // Samples older than 10 s no longer count: each node is measured again once.
    clock.advance(10_001);
    const probes: string[] = [];
    for (let i = 0; i < 4; i++) probes.push(await call(selector, {}, undefined, 5));
    expect([...probes].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  test('on a large set (two sampled) the fast half of the nodes takes most calls', async () => {
    const clock = manualClock();
    const nodes = Array.from({ length: 20 }, (_, i) => ({ id: `n${i}` }));
    const { selector } = await selectorOver(nodes, { strategy: 'latency', now: clock.now });
    const rttOf = (id: string) => (Number(id.slice(1)) % 2 === 0 ? 10 : 100);
    // Measure every node once (round-robin visits each), then draw without feeding more samples.
    for (let i = 0; i < 20; i++) {
      const node = (await nextOf(selector, { strategy: 'roundrobin' }))()!;
      selector.mark('s', node, undefined, { rtt: rttOf(node.id) });
    }
    let fast = 0;
    const N = 4000;
    for (let i = 0; i < N; i++) if (rttOf(await call(selector, {}, undefined, undefined)) === 10) fast++;
    // P(fast) = 1 - P(both samples slow) = 1 - (10/20)(9/19) = 0.763; sigma over 4000 draws is 0.0067.
    expect(fast / N).toBeGreaterThan(0.72);
    expect(fast / N).toBeLessThan(0.81);
  });
});

describe('strategies as plugins', () => {
  afterEach(stopAll);

  test('every strategy is a --selector name; a call can still pick another strategy', async () => {
    expect(availablePlugins('selector')).toEqual(['hash', 'latency', 'leastinflight', 'random', 'roundrobin', 'weighted']);
    const service = testService({ argv: ['--selector=weighted'] });
    expect(service.selector.name).toBe('weighted');
  });

  test('a strategy unknown to the selector is refused by name', async () => {
    const { selector } = await selectorOver([{ id: 'a' }]);
    await expect(selector.select('s', { strategy: 'psychic' })).rejects.toThrow(/unknown selector strategy "psychic"/);
  });
});
