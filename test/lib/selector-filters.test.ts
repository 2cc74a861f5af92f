import { errors } from '../../lib';
import type { SelectedNode } from '../../lib/selector/selector';
import { call, closeSelectors, countIds, manualClock, nextOf, selectorOver } from './selector-setup';

afterEach(closeSelectors);

const fleet = [
  { id: 'eu-gold', version: '1', metadata: { zone: 'eu', tier: 'gold' } },
  { id: 'eu-std', version: '1', metadata: { zone: 'eu', tier: 'std' } },
  { id: 'us-gold', version: '1', metadata: { zone: 'us', tier: 'gold' } },
  { id: 'eu-gold-v2', version: '2', metadata: { zone: 'eu', tier: 'gold' } },
  { id: 'us-std-v2', version: '2', metadata: { zone: 'us', tier: 'std' } },
];

async function idsFor(selector: Awaited<ReturnType<typeof selectorOver>>['selector'], options: object, n = 60): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = 0; i < n; i++) ids.add(await call(selector, { strategy: 'roundrobin', ...options }));
  return ids;
}

describe('filters', () => {
  test('labels keep the nodes whose metadata carries every label; version and labels combine', async () => {
    const { selector } = await selectorOver(fleet);
    expect(await idsFor(selector, { labels: { zone: 'eu' } })).toEqual(new Set(['eu-gold', 'eu-std', 'eu-gold-v2']));
    expect(await idsFor(selector, { labels: { zone: 'eu', tier: 'gold' } })).toEqual(new Set(['eu-gold', 'eu-gold-v2']));
    expect(await idsFor(selector, { version: '2', labels: { tier: 'std' } })).toEqual(new Set(['us-std-v2']));
    expect(await idsFor(selector, { version: '1' })).toEqual(new Set(['eu-gold', 'eu-std', 'us-gold']));
    expect(await idsFor(selector, {})).toEqual(new Set(fleet.map((n) => n.id)));
  });

  test('no node matching is a 503 that names the filters', async () => {
    const { selector } = await selectorOver(fleet);
    await expect(selector.select('s', { labels: { zone: 'mars' } })).rejects.toMatchObject({
      code: 503,
      id: 'phobos.selector',
      detail: 'no nodes of service s with labels zone=mars',
    });
    await expect(selector.select('s', { version: '2', labels: { zone: 'eu', tier: 'std' } })).rejects.toMatchObject({
      detail: 'no nodes of s version 2 with labels zone=eu,tier=std',
    });
  });

  test('custom filters still run, after version and labels, and combine with every strategy', async () => {
    const notGold = (nodes: SelectedNode[]) => nodes.filter((n) => n.metadata.tier !== 'gold');
    const { selector } = await selectorOver(fleet);
    expect(await idsFor(selector, { filters: [notGold] })).toEqual(new Set(['eu-std', 'us-std-v2']));
    expect(await idsFor(selector, { filters: [notGold], labels: { zone: 'us' } })).toEqual(new Set(['us-std-v2']));
    for (const strategy of ['random', 'roundrobin', 'weighted', 'hash', 'leastinflight', 'latency']) {
      for (let i = 0; i < 20; i++) {
        const id = await call(selector, { strategy, filters: [notGold], key: `k${i}` });
        expect(['eu-std', 'us-std-v2']).toContain(id);
      }
    }
    await expect(selector.select('s', { filters: [() => []] })).rejects.toMatchObject({ code: 503, detail: 'no nodes of service s' });
  });
});

describe('cool-down', () => {
  const three = [
    { id: 'a', address: '10.0.0.1:1' },
    { id: 'b', address: '10.0.0.1:1' },
    { id: 'c', address: '10.0.0.2:1' },
  ];

  test('markAddress cools down every node at that address until the cool-down is over', async () => {
    const clock = manualClock();
    const { selector } = await selectorOver(three, { now: clock.now, coolDown: 1000 });
    await call(selector); // the selector learns the nodes
    selector.markAddress('10.0.0.1:1', new Error('missed heartbeat'));
    for (let i = 0; i < 30; i++) expect(await call(selector)).toBe('c');
    clock.advance(1000);
    expect(await idsFor(selector, {})).toEqual(new Set(['a', 'b', 'c']));
  });

  test('only connection-level errors cool a node down; handler and client errors leave it in selection', async () => {
    const clock = manualClock();
    const { selector } = await selectorOver(three, { now: clock.now, breaker: false });
    const a = (await nextOf(selector, { strategy: 'roundrobin' }))()!;
    expect(a.id).toBe('a');
    for (const err of [errors.internal('s.e', 'handler bug'), errors.notFound('s.e', 'no such thing'), errors.timeout('s.e', 'slow')]) {
      selector.mark('s', a, err);
      expect(countIds(await Promise.all(Array.from({ length: 30 }, () => call(selector, { strategy: 'roundrobin' })))).get('a')).toBe(10);
    }
    selector.mark('s', a, errors.unavailable('phobos.transport', 'connection refused'));
    expect(await idsFor(selector, {})).toEqual(new Set(['b', 'c']));
    // An answer from the node ends its cool-down at once.
    selector.mark('s', a);
    expect(await idsFor(selector, {})).toEqual(new Set(['a', 'b', 'c']));
  });

  test('a retry skips the node the failed attempt cooled down', async () => {
    const { selector } = await selectorOver(three, { coolDown: 60_000 });
    for (let i = 0; i < 20; i++) {
      const next = await nextOf(selector);
      const first = next()!;
      selector.mark('s', first, errors.unavailable('phobos.transport', 'refused'));
      const second = next()!;
      const third = next()!;
      expect(second.id).not.toBe(first.id);
      expect(third.id).not.toBe(first.id);
      selector.mark('s', second);
      selector.mark('s', third);
      selector.mark('s', first); // back in for the next round
    }
  });
});
