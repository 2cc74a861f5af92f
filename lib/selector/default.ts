import { errors } from '../errors';
import type { RegistryCache } from '../registry/cache';
import type { ServiceRecord } from '../registry/registry';
import type { Next, NodeFilter, SelectedNode, SelectOptions, Selector } from './selector';

/**
 * The default Selector: reads nodes through the registry cache, applies the version and custom filters, and hands
 * out nodes by strategy. Strategies are tiny objects, so the governance work adds more without touching this file.
 * A node marked failed is avoided for a short cool-down, so a retry lands elsewhere and a dead node stops drawing
 * traffic before the registry notices it is gone.
 */

export interface Strategy {
  readonly name: string;
  /** Builds the per-call `next` over the candidate nodes (never empty). */
  pick(nodes: SelectedNode[], service: string): Next;
}

export const random: Strategy = {
  name: 'random',
  pick(nodes) {
    // Each attempt draws again but avoids repeating the previous node when there is a choice.
    let last = -1;
    return () => {
      let i = Math.floor(Math.random() * nodes.length);
      if (i === last && nodes.length > 1) i = (i + 1) % nodes.length;
      last = i;
      return nodes[i];
    };
  },
};

export function roundRobin(): Strategy {
  const counters = new Map<string, number>();
  return {
    name: 'roundrobin',
    pick(nodes, service) {
      return () => {
        const n = counters.get(service) ?? 0;
        counters.set(service, (n + 1) % 1_000_000_007);
        return nodes[n % nodes.length];
      };
    },
  };
}

export const STRATEGIES: Record<string, () => Strategy> = {
  random: () => random,
  roundrobin: roundRobin,
};

export interface DefaultSelectorOptions {
  cache: RegistryCache;
  strategy?: string;
  /** How long a failed node is avoided, in ms. */
  coolDown?: number;
}

export class DefaultSelector implements Selector {
  readonly name: string;
  private readonly cache: RegistryCache;
  private readonly strategies = new Map<string, Strategy>();
  private readonly defaultStrategy: Strategy;
  private readonly coolDown: number;
  /** node id -> time until which it is avoided */
  private readonly failed = new Map<string, number>();
  /** Flattened node lists per cached record array, so the warm path does not rebuild them per call. */
  private readonly flattened = new WeakMap<ServiceRecord[], SelectedNode[]>();

  constructor(options: DefaultSelectorOptions) {
    this.cache = options.cache;
    this.coolDown = options.coolDown ?? 5000;
    this.defaultStrategy = this.strategy(options.strategy ?? 'random');
    this.name = this.defaultStrategy.name;
  }

  select(service: string, options: SelectOptions = {}): Next | Promise<Next> {
    const cached = this.cache.peek(service);
    if (cached) {
      try {
        return this.choose(service, cached, options);
      } catch (err) {
        return Promise.reject(err); // failures are always asynchronous, warm or cold
      }
    }
    return this.cache.getService(service).then((records) => this.choose(service, records, options));
  }

  private choose(service: string, records: ServiceRecord[], options: SelectOptions): Next {
    let nodes = this.nodesOf(records);
    if (options.version) nodes = nodes.filter((n) => n.version === options.version);
    if (options.filters) for (const f of options.filters) nodes = f(nodes, records);
    if (this.failed.size) nodes = this.healthy(nodes);
    if (nodes.length === 0) {
      this.cache.invalidate(service);
      const detail = options.version ? `no nodes of ${service} version ${options.version}` : `no nodes of service ${service}`;
      throw errors.unavailable('phobos.selector', detail);
    }
    const strategy = options.strategy ? this.strategy(options.strategy) : this.defaultStrategy;
    return strategy.pick(nodes, service);
  }

  mark(service: string, node: SelectedNode, error?: Error): void {
    if (!error) {
      if (this.failed.size) this.failed.delete(node.id);
      return;
    }
    this.failed.set(node.id, Date.now() + this.coolDown);
    this.cache.invalidate(service);
  }

  async close(): Promise<void> {
    this.failed.clear();
  }

  private strategy(name: string): Strategy {
    let s = this.strategies.get(name);
    if (!s) {
      const make = STRATEGIES[name];
      if (!make) throw new Error(`unknown selector strategy "${name}" (available: ${Object.keys(STRATEGIES).join(', ')})`);
      this.strategies.set(name, (s = make()));
    }
    return s;
  }

  private nodesOf(records: ServiceRecord[]): SelectedNode[] {
    let nodes = this.flattened.get(records);
    if (!nodes) {
      nodes = [];
      for (const r of records) for (const n of r.nodes) nodes.push({ ...n, version: r.version });
      this.flattened.set(records, nodes);
    }
    return nodes;
  }

  /** Drops nodes in their cool-down, unless that would leave none (then trying a suspect node beats failing). */
  private healthy(nodes: SelectedNode[]): SelectedNode[] {
    const now = Date.now();
    const ok = nodes.filter((n) => {
      const until = this.failed.get(n.id);
      if (until === undefined) return true;
      if (until <= now) {
        this.failed.delete(n.id);
        return true;
      }
      return false;
    });
    return ok.length ? ok : nodes;
  }
}

export function versionFilter(version: string): NodeFilter {
  return (nodes) => nodes.filter((n) => n.version === version);
}
