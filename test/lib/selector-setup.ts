import { MemoryRegistry, RegistryCache } from '../../lib';
import { DefaultSelector, type DefaultSelectorOptions } from '../../lib/selector/default';
import type { NodeRecord } from '../../lib/registry/registry';
import type { Next, SelectedNode, SelectOptions } from '../../lib/selector/selector';

/** Shared setup for the selector tests: real memory registry and cache, a hand-driven clock, draw helpers. */

export interface NodeSpec {
  id: string;
  version?: string;
  address?: string;
  metadata?: Record<string, string>;
}

let ns = 0;

export function nodeRecord(n: NodeSpec, i = 0): NodeRecord {
  return { id: n.id, address: n.address ?? `127.0.0.1:${2000 + i}`, metadata: n.metadata ?? {} };
}

/** A registry holding `nodes` of service `s` (one record per version, nodes in the order given) and a warm cache. */
export async function registryWith(nodes: NodeSpec[], service = 's') {
  const registry = new MemoryRegistry({ namespace: `selector-test-${++ns}` });
  const versions = new Map<string, NodeRecord[]>();
  nodes.forEach((n, i) => {
    const v = n.version ?? '1';
    versions.set(v, [...(versions.get(v) ?? []), nodeRecord(n, i)]);
  });
  for (const [version, list] of versions) await registry.register({ name: service, version, metadata: {}, endpoints: [], nodes: list });
  const cache = new RegistryCache(registry);
  await cache.getService(service);
  return { registry, cache };
}

/** A clock tests move by hand, so breakers, cool-downs and latency samples never need a real wait. */
export function manualClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

const opened: { cache: RegistryCache; registry: MemoryRegistry }[] = [];

/** A selector over `nodes`; everything it opened is closed by `closeSelectors()`. */
export async function selectorOver(nodes: NodeSpec[], options: Partial<DefaultSelectorOptions> = {}) {
  const { registry, cache } = await registryWith(nodes);
  opened.push({ registry, cache });
  return { selector: new DefaultSelector({ cache, ...options }), registry, cache };
}

export async function closeSelectors(): Promise<void> {
  for (const { registry, cache } of opened.splice(0)) {
    cache.close();
    await registry.close();
  }
}

export async function nextOf(selector: DefaultSelector, options?: SelectOptions): Promise<Next> {
  return selector.select('s', options);
}

/** One attempt: select, take the first node and mark it as succeeded; returns the node id. */
export async function call(selector: DefaultSelector, options: SelectOptions = {}, error?: Error, rtt?: number): Promise<string> {
  const node = (await nextOf(selector, options))()!;
  selector.mark('s', node, error, { endpoint: options.endpoint, rtt });
  return node.id;
}

/** Hands out `n` nodes without marking them (calls in flight). */
export async function holdInFlight(selector: DefaultSelector, n: number, options?: SelectOptions): Promise<SelectedNode[]> {
  const held: SelectedNode[] = [];
  for (let i = 0; i < n; i++) held.push((await nextOf(selector, options))()!);
  return held;
}

export function countIds(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}
