import type { NodeRecord, RegisterOptions, Registry, ServiceRecord, WatchEvent, Watcher } from './registry';
import { QueueWatcher } from './watcher';

/**
 * The in-process registry: every Service created with `--registry=memory` in one process sees the others. Nodes
 * expire when their TTL passes without a renewal, exactly like the engine-backed registries, so tests of liveness
 * behave the same. Instances share one store per `namespace` (default: the whole process).
 */

interface StoredNode {
  node: NodeRecord;
  service: Omit<ServiceRecord, 'nodes'>;
  expires: number;
}

class Store {
  /** name -> version -> node id -> stored node */
  readonly services = new Map<string, Map<string, Map<string, StoredNode>>>();
  readonly watchers = new Set<QueueWatcher>();
  sweeper: NodeJS.Timeout | undefined;

  emit(event: WatchEvent): void {
    for (const w of this.watchers) w.push(event);
  }
}

const stores = new Map<string, Store>();

export interface MemoryRegistryOptions {
  namespace?: string;
}

export class MemoryRegistry implements Registry {
  readonly name = 'memory';
  private readonly store: Store;
  private readonly mine = new Set<QueueWatcher>();

  constructor(options: MemoryRegistryOptions = {}) {
    const ns = options.namespace ?? 'default';
    let store = stores.get(ns);
    if (!store) stores.set(ns, (store = new Store()));
    this.store = store;
    // Expiry is announced to watchers even when nobody queries; unref'd so it never keeps a process alive.
    if (!store.sweeper) {
      store.sweeper = setInterval(() => this.expire(), 500);
      store.sweeper.unref();
    }
  }

  async register(service: ServiceRecord, options: RegisterOptions = {}): Promise<void> {
    const ttlMs = (options.ttl ?? 0) * 1000;
    const versions = this.versionsOf(service.name, true)!;
    let nodes = versions.get(service.version);
    if (!nodes) versions.set(service.version, (nodes = new Map()));
    const { nodes: incoming, ...info } = service;
    let created = false;
    for (const node of incoming) {
      if (!nodes.has(node.id)) created = true;
      nodes.set(node.id, { node: { ...node }, service: info, expires: ttlMs > 0 ? Date.now() + ttlMs : Infinity });
    }
    this.store.emit({ action: created ? 'create' : 'update', service: clone(service) });
  }

  async deregister(service: ServiceRecord): Promise<void> {
    const nodes = this.versionsOf(service.name)?.get(service.version);
    if (!nodes) return;
    const gone = service.nodes.filter((n) => nodes.delete(n.id));
    this.prune(service.name, service.version);
    if (gone.length) this.store.emit({ action: 'delete', service: { ...clone(service), nodes: gone } });
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    this.expire();
    const versions = this.versionsOf(name);
    if (!versions) return [];
    const out: ServiceRecord[] = [];
    for (const nodes of versions.values()) {
      const list = [...nodes.values()];
      if (list.length === 0) continue;
      out.push(clone({ ...list[list.length - 1].service, nodes: list.map((s) => s.node) }));
    }
    return out;
  }

  async listServices(): Promise<ServiceRecord[]> {
    this.expire();
    const out: ServiceRecord[] = [];
    for (const name of this.store.services.keys()) out.push(...(await this.getService(name)));
    return out;
  }

  watch(options: { service?: string } = {}): Watcher {
    const watcher = new QueueWatcher(options.service, (w) => {
      this.store.watchers.delete(w);
      this.mine.delete(w);
    });
    this.store.watchers.add(watcher);
    this.mine.add(watcher);
    return watcher;
  }

  async close(): Promise<void> {
    for (const w of [...this.mine]) w.stop();
  }

  private versionsOf(name: string, create = false): Map<string, Map<string, StoredNode>> | undefined {
    let v = this.store.services.get(name);
    if (!v && create) this.store.services.set(name, (v = new Map()));
    return v;
  }

  private prune(name: string, version: string): void {
    const versions = this.versionsOf(name);
    if (!versions) return;
    if (versions.get(version)?.size === 0) versions.delete(version);
    if (versions.size === 0) this.store.services.delete(name);
  }

  /** Drops nodes whose TTL passed, announcing each as a delete. */
  private expire(): void {
    const now = Date.now();
    for (const [name, versions] of this.store.services) {
      for (const [version, nodes] of versions) {
        const gone: StoredNode[] = [];
        for (const [id, s] of nodes) {
          if (s.expires > now) continue;
          nodes.delete(id);
          gone.push(s);
        }
        if (gone.length) {
          this.store.emit({ action: 'delete', service: clone({ ...gone[0].service, nodes: gone.map((g) => g.node) }) });
          this.prune(name, version);
        }
      }
    }
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
