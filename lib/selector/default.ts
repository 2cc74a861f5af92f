import { errors } from '../errors';
import { silentLogger, type Logger } from '../observe/logger';
import type { RegistryCache } from '../registry/cache';
import type { ServiceRecord } from '../registry/registry';
import { breakerSettings, isConnectionError, verdictOf, type BreakerOptions } from './breaker';
import { candidatesOf, makeView, viewKey, type Candidates, type View } from './candidates';
import { Health } from './health';
import { hashString } from './ring';
import type { BreakerListener, BreakerSnapshot, MarkInfo, Next, NodeFilter, SelectedNode, SelectOptions, Selector } from './selector';
import { handedOut, ServiceState } from './state';
import { STRATEGIES, type Strategy } from './strategies';
import { observe } from './strategies/latency';

export { STRATEGIES };
export type { Strategy };

/**
 * The default Selector: reads nodes through the registry cache, keeps the nodes that pass the version, label and
 * custom filters and whose breaker for the endpoint is not open, and hands them out by strategy. A node that failed
 * at the connection level is avoided for a short cool-down, so a retry lands elsewhere and a dead node stops drawing
 * traffic before the registry notices it is gone.
 *
 * The warm path does no O(nodes) work: candidate lists are cached per (record array, filters, endpoint, health epoch)
 * (candidates.ts), strategies are O(1) or O(log n) per pick, and `mark` touches one node's counters and breaker.
 */

export interface DefaultSelectorOptions {
  cache: RegistryCache;
  /** The strategy of calls that name none: random (default), roundrobin, weighted, hash, leastinflight, latency. */
  strategy?: string;
  /** How long a node is avoided after a connection-level failure, in ms. */
  coolDown?: number;
  /** Circuit breakers per node and endpoint (see breaker.ts for the defaults); false turns them off. */
  breaker?: BreakerOptions | false;
  /** The clock, in ms, for breakers, cool-downs and latency samples: injectable so tests need not sleep. */
  now?: () => number;
  logger?: Logger;
}

/** How many (version, labels) views one service keeps before the cache is cleared (labels can take any value). */
const MAX_VIEWS = 256;

export class DefaultSelector implements Selector {
  readonly name: string;
  private readonly cache: RegistryCache;
  private readonly clock: () => number;
  private readonly logger: Logger;
  private readonly health: Health;
  private readonly breakersOn: boolean;
  private readonly strategies = new Map<string, Strategy>();
  private readonly defaultStrategy: Strategy;
  private readonly services = new Map<string, ServiceState>();
  /** Round trips are averaged only once a strategy reads them (`latency`): until then, no call pays for it. */
  private measuring = false;

  constructor(options: DefaultSelectorOptions) {
    this.cache = options.cache;
    this.clock = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    const breakers = options.breaker === false ? undefined : breakerSettings(options.breaker ?? {});
    this.breakersOn = breakers !== undefined;
    this.health = new Health(breakers, options.coolDown ?? 5000, this.logger);
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

  mark(service: string, node: SelectedNode, error?: Error, info?: MarkInfo): void {
    const svc = this.serviceOf(service);
    const slot = svc.slotOf(node);
    const nodes = svc.nodes;
    nodes.returned(slot);
    const rtt = this.measuring ? info?.rtt : undefined;
    if (!this.breakersOn && rtt === undefined && error === undefined && svc.cooling === 0) return;
    const now = this.now();
    if (rtt !== undefined) observe(nodes, slot, rtt, now);
    if (this.breakersOn) this.health.result(svc, slot, info?.endpoint ?? '', verdictOf(error), now);
    if (error === undefined) {
      if (svc.cooling !== 0) this.health.recovered(svc, slot);
    } else if (isConnectionError(error)) {
      this.health.cool(svc, slot, now);
      this.cache.invalidate(service);
    }
  }

  markAddress(address: string, error: Error): void {
    const now = this.now();
    for (const svc of this.services.values()) {
      let hit = 0;
      for (const slot of svc.nodes.slots.values()) {
        if (svc.nodes.addresses[slot] !== address) continue;
        this.health.cool(svc, slot, now);
        hit++;
      }
      if (hit === 0) continue;
      this.cache.invalidate(svc.name);
      this.logger.debug({ service: svc.name, address, nodes: hit, err: error.message }, 'connection lost: nodes cool down');
    }
  }

  onBreakerChange(listener: BreakerListener): () => void {
    return this.health.onChange(listener);
  }

  breakerStates(): BreakerSnapshot[] {
    return this.health.snapshot(this.services.values());
  }

  async close(): Promise<void> {
    this.services.clear();
    this.health.clear();
  }

  private choose(service: string, records: ServiceRecord[], options: SelectOptions): Next {
    const strategy = options.strategy ? this.strategy(options.strategy) : this.defaultStrategy;
    const svc = this.serviceOf(service);
    this.expire(svc);
    const view = this.viewOf(svc, records, options);
    const endpoint = options.endpoint ?? '';
    const c = options.filters ? this.filtered(svc, view, records, options, endpoint) : this.candidates(svc, view, endpoint);
    if (c.count === 0) {
      const considered = c.subset ? c.subset.length : view.nodes.length;
      throw errors.unavailable('phobos.selector', `circuit open for ${service}${endpoint ? `.${endpoint}` : ''} on every node (${considered})`);
    }
    const key = options.key === undefined || !strategy.keyed ? -1 : hashString(options.key);
    return this.nextOf(svc, c, strategy, endpoint, key);
  }

  /** The per-call `next`: one closure per call, the only allocation of the warm path. */
  private nextOf(svc: ServiceState, first: Candidates, strategy: Strategy, endpoint: string, key: number): Next {
    let c = first;
    let attempt = 0;
    let last = -1;
    return () => {
      if (attempt > 0) c = this.refreshed(svc, c, endpoint); // a retry sees what the failed attempt taught
      for (let tries = 0; tries < 3; tries++) {
        if (c.count === 0) return undefined;
        let i = strategy.pick(c, attempt, key);
        if (i === last && c.count > 1) i = c.after(i);
        const view = c.view;
        const slot = view.slots[i];
        // Only while some breaker of the service is not closed: the node may have opened since the list was made,
        // and a half-open node hands out a limited number of trial permits.
        if (svc.unsettled !== 0 && !this.health.admit(svc, slot, endpoint)) {
          c = this.refreshed(svc, c, endpoint);
          continue;
        }
        attempt++;
        last = i;
        view.table.handedOut(slot);
        return view.nodes[i];
      }
      return undefined;
    };
  }

  private now(): number {
    return this.clock();
  }

  private expire(svc: ServiceState): void {
    if (svc.nextDeadline === Number.POSITIVE_INFINITY) return;
    const now = this.now();
    if (now >= svc.nextDeadline) this.health.expire(svc, now);
  }

  private refreshed(svc: ServiceState, c: Candidates, endpoint: string): Candidates {
    this.expire(svc);
    if (c.epoch === svc.epoch) return c;
    return c.subset ? candidatesOf(svc, c.view, endpoint, c, c.subset) : this.candidates(svc, c.view, endpoint);
  }

  private candidates(svc: ServiceState, view: View, endpoint: string): Candidates {
    const cached = view.byEndpoint.get(endpoint);
    if (cached !== undefined && cached.epoch === svc.epoch) return cached;
    const c = candidatesOf(svc, view, endpoint, cached);
    if (c !== cached) view.byEndpoint.set(endpoint, c);
    return c;
  }

  /** Custom filters are arbitrary functions, so their result cannot be cached: they run per call, over the view. */
  private filtered(svc: ServiceState, view: View, records: ServiceRecord[], options: SelectOptions, endpoint: string): Candidates {
    let nodes = view.nodes;
    for (const f of options.filters as NodeFilter[]) nodes = f(nodes, records);
    const kept = new Set<number>();
    for (const n of nodes) {
      const i = view.indexOf(n.id);
      if (i >= 0) kept.add(i);
    }
    if (kept.size === 0) throw this.noNodes(svc.name, options);
    const subset = Int32Array.from(kept).sort();
    return candidatesOf(svc, view, endpoint, undefined, subset);
  }

  private viewOf(svc: ServiceState, records: ServiceRecord[], options: SelectOptions): View {
    if (svc.records !== records) this.adopt(svc, records);
    const version = options.version || undefined;
    const labels = options.labels;
    let view: View;
    if (version === undefined && labels === undefined) {
      view = svc.plain !== undefined && svc.plain.records === records ? svc.plain : (svc.plain = makeView(svc, records, undefined, undefined, svc.plain));
    } else {
      const key = viewKey(version, labels);
      const previous = svc.views.get(key);
      if (previous !== undefined && previous.records === records) view = previous;
      else {
        if (svc.views.size >= MAX_VIEWS) svc.views.clear();
        svc.views.set(key, (view = makeView(svc, records, version, labels, previous)));
      }
    }
    if (view.nodes.length === 0) throw this.noNodes(svc.name, options);
    return view;
  }

  /** A new record array from the cache: flatten it once, and forget nodes that left. */
  private adopt(svc: ServiceState, records: ServiceRecord[]): void {
    svc.nodes.recycle();
    const all: SelectedNode[] = [];
    const present = new Set<string>();
    for (const r of records) {
      for (const n of r.nodes) {
        all.push(handedOut(n, r.version, svc.nodes.slot(n.id, n.address)));
        present.add(n.id);
      }
    }
    for (const [id, slot] of svc.nodes.slots) if (!present.has(id)) svc.forget(slot);
    svc.records = records;
    svc.all = all;
  }

  private noNodes(service: string, options: SelectOptions): Error {
    this.cache.invalidate(service);
    let detail = options.version ? `no nodes of ${service} version ${options.version}` : `no nodes of service ${service}`;
    if (options.labels) detail += ` with labels ${Object.entries(options.labels).map(([k, v]) => `${k}=${v}`).join(',')}`;
    return errors.unavailable('phobos.selector', detail);
  }

  private serviceOf(service: string): ServiceState {
    let svc = this.services.get(service);
    if (!svc) this.services.set(service, (svc = new ServiceState(service)));
    return svc;
  }

  private strategy(name: string): Strategy {
    let s = this.strategies.get(name);
    if (!s) {
      const make = STRATEGIES[name];
      if (!make) throw new Error(`unknown selector strategy "${name}" (available: ${Object.keys(STRATEGIES).join(', ')})`);
      this.strategies.set(name, (s = make({ now: () => this.now() })));
      if (s.measures) this.measuring = true;
    }
    return s;
  }
}

export function versionFilter(version: string): NodeFilter {
  return (nodes) => nodes.filter((n) => n.version === version);
}
