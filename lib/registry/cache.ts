import type { Logger } from '../observe/logger';
import { silentLogger } from '../observe/logger';
import type { Registry, ServiceRecord, Watcher } from './registry';

/**
 * A read-through cache in front of any Registry, fed by its watch. Clients look services up here, so a warm lookup
 * costs a Map read, a change seen by the watch refreshes the entry, and when the registry is unreachable the last
 * good view keeps being served (go-micro users' top complaint was discovery without cache or retry).
 */

export interface CacheOptions {
  /** How long an entry is trusted without a watch event, in ms. */
  ttl?: number;
  /**
   * How many names with no nodes are remembered (each for a second), the oldest forgotten first. Names come from
   * callers (a gateway passes on whatever a request names), so without a bound random names would grow memory forever.
   */
  maxMisses?: number;
  logger?: Logger;
}

interface Entry {
  records: ServiceRecord[];
  fetched: number;
  stale: boolean;
}

/** How long "no nodes" is believed, in ms. */
const MISS_TTL = 1000;

export class RegistryCache {
  private readonly entries = new Map<string, Entry>();
  /** Names the registry knew no nodes of, and when it said so; insertion order is age order. */
  private readonly misses = new Map<string, number>();
  private readonly maxMisses: number;
  private readonly inflight = new Map<string, Promise<ServiceRecord[]>>();
  private readonly ttl: number;
  private readonly logger: Logger;
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(
    readonly registry: Registry,
    options: CacheOptions = {},
  ) {
    this.ttl = options.ttl ?? 30_000;
    this.maxMisses = options.maxMisses ?? 1024;
    this.logger = options.logger ?? silentLogger;
  }

  /** The cached records when fresh, without touching the registry; undefined otherwise. */
  peek(name: string): ServiceRecord[] | undefined {
    const e = this.entries.get(name);
    if (!e) {
      const missed = this.misses.get(name);
      return missed !== undefined && Date.now() - missed < MISS_TTL ? [] : undefined;
    }
    if (e.stale || Date.now() - e.fetched > this.ttl) return undefined;
    return e.records;
  }

  /** Names held: services with nodes plus remembered misses (bounded by maxMisses). */
  get size(): number {
    return this.entries.size + this.misses.size;
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    const fresh = this.peek(name);
    if (fresh) return fresh;
    this.ensureWatch();
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = this.fetch(name);
      this.inflight.set(name, pending);
    }
    return pending;
  }

  /** Forget an entry so the next lookup asks the registry (e.g. after every node of it failed). */
  invalidate(name: string): void {
    const e = this.entries.get(name);
    if (e) e.stale = true;
    this.misses.delete(name);
  }

  close(): void {
    this.closed = true;
    this.watcher?.stop();
    this.watcher = undefined;
    this.entries.clear();
    this.misses.clear();
  }

  private async fetch(name: string): Promise<ServiceRecord[]> {
    try {
      const records = await this.registry.getService(name);
      if (records.length) {
        this.misses.delete(name);
        this.entries.set(name, { records, fetched: Date.now(), stale: false });
      } else {
        // An empty answer is remembered only briefly (a service that is starting should be found soon after), and
        // only for a bounded number of names.
        this.entries.delete(name);
        this.remember(name);
      }
      return records;
    } catch (err) {
      const last = this.entries.get(name);
      if (last) {
        this.logger.warn({ err, service: name }, 'registry lookup failed; serving the last good view');
        // Trust the old view for a few seconds so every call does not wait on a registry that is down.
        last.stale = false;
        last.fetched = Date.now() - this.ttl + 3000;
        return last.records;
      }
      throw err;
    } finally {
      this.inflight.delete(name);
    }
  }

  private remember(name: string): void {
    this.misses.delete(name);
    this.misses.set(name, Date.now());
    if (this.misses.size > this.maxMisses) this.misses.delete(this.misses.keys().next().value as string);
  }

  private ensureWatch(): void {
    if (this.watcher || this.closed) return;
    let watcher: Watcher;
    try {
      watcher = this.registry.watch();
    } catch (err) {
      this.logger.warn({ err }, 'registry watch unavailable; the cache relies on its ttl');
      return;
    }
    this.watcher = watcher;
    void (async () => {
      try {
        for await (const ev of watcher) this.invalidate(ev.service.name);
      } catch (err) {
        this.logger.warn({ err }, 'registry watch ended with an error');
      }
      // The watch ended: entries can no longer be trusted to be current, so refresh on next use and re-watch then.
      if (this.watcher === watcher) this.watcher = undefined;
      for (const e of this.entries.values()) e.stale = true;
    })();
  }
}
