import type { ServiceRecord, WatchAction, WatchEvent } from '../../lib/registry/registry';

interface Entry {
  record: ServiceRecord;
  /** The record as JSON: a refresh with the same text is not a change and raises no event. */
  json: string;
  expiresAt: number;
  /** Order of last change; the freshest node of a version speaks for its metadata and endpoints. */
  seq: number;
}

/**
 * What this registry knows about the network: one entry per instance (= per node), each with the expiry its TTL
 * gave it. Everything heard is written here; getService/listServices read it, and every change becomes a WatchEvent.
 *
 * Events are per node, as in go-micro: `create` when a node appears, `update` when a known node's record changes,
 * `delete` when it leaves (goodbye or expiry); `service.nodes` holds just the node concerned.
 */
export class ServiceCache {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private seq = 0;

  constructor(private readonly emit: (event: WatchEvent) => void) {}

  /** Adds or refreshes an instance for `ttl` seconds. */
  upsert(instance: string, record: ServiceRecord, ttl: number): void {
    const json = JSON.stringify(record);
    const expiresAt = Date.now() + ttl * 1000;
    const old = this.entries.get(instance);
    if (old && old.json === json) {
      old.expiresAt = expiresAt;
    } else {
      if (old && (old.record.name !== record.name || old.record.version !== record.version)) {
        // Same instance now claims another service: to watchers that is one node leaving and another arriving.
        this.entries.delete(instance);
        this.fire('delete', old.record);
        this.entries.set(instance, { record, json, expiresAt, seq: ++this.seq });
        this.fire('create', record);
      } else {
        this.entries.set(instance, { record, json, expiresAt, seq: ++this.seq });
        this.fire(old ? 'update' : 'create', record);
      }
    }
    this.schedule(expiresAt);
  }

  remove(instance: string): void {
    const old = this.entries.get(instance);
    if (!old) return;
    this.entries.delete(instance);
    this.fire('delete', old.record);
  }

  /** Every version of `name`, nodes merged; [] when none is known. */
  get(name: string): ServiceRecord[] {
    return this.merge((r) => r.name === name);
  }

  list(): ServiceRecord[] {
    return this.merge(() => true);
  }

  has(name: string): boolean {
    for (const e of this.entries.values()) if (e.record.name === name) return true;
    return false;
  }

  /** Forgets everything without events (the registry is closing) and stops the expiry timer. */
  clear(): void {
    this.entries.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = Infinity;
  }

  private merge(keep: (r: ServiceRecord) => boolean): ServiceRecord[] {
    const groups = new Map<string, Entry[]>();
    for (const e of this.entries.values()) {
      if (!keep(e.record)) continue;
      const key = `${e.record.name}\0${e.record.version}`;
      const group = groups.get(key);
      if (group) group.push(e);
      else groups.set(key, [e]);
    }
    const out: ServiceRecord[] = [];
    for (const group of groups.values()) {
      const freshest = group.reduce((a, b) => (b.seq > a.seq ? b : a));
      // Copies, so a caller that edits its answer cannot edit the cache.
      const record = structuredClone(freshest.record);
      record.nodes = group.map((e) => structuredClone(e.record.nodes[0]));
      out.push(record);
    }
    return out;
  }

  private fire(action: WatchAction, record: ServiceRecord): void {
    this.emit({ action, service: structuredClone(record) });
  }

  /** One timer for the earliest expiry; unref'd so a forgotten registry never holds the process open by it. */
  private schedule(expiresAt: number): void {
    if (this.timer && expiresAt >= this.dueAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = expiresAt;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, expiresAt - Date.now()) + 5);
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    this.dueAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [instance, e] of [...this.entries]) {
      if (e.expiresAt <= now) this.remove(instance);
      else next = Math.min(next, e.expiresAt);
    }
    if (next < Infinity) this.schedule(next);
  }
}
