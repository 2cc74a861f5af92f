import type { NodeRecord, ServiceRecord, WatchEvent } from '../../lib/registry/registry';

/**
 * What one registry instance knows of everybody's nodes, fed by announcements (its own included) and query answers.
 * Every node expires on its own when its renewal does not come within its TTL, counted from when the announcement
 * was received here, so clocks never need to agree; expiry and deregistration become delete events.
 *
 * Announcements carry their origin (a registry instance) and that origin's sequence number. A query answer can be
 * overtaken by a later announcement (sent before a deregister, received after it): a node's newer state from the
 * same origin always wins, and a deregistration leaves a tombstone for a while so a stale answer cannot revive it.
 */

export interface Announcement {
  /** The registry instance that sent it, and its sequence number (increasing per origin). */
  origin: string;
  seq: number;
  action: 'put' | 'delete';
  /** Milliseconds the nodes live from receipt unless renewed; 0: until deregistered. */
  ttlMs: number;
  /** The record; `nodes` are the nodes concerned. */
  service: ServiceRecord;
}

type Info = Omit<ServiceRecord, 'nodes'>;

interface Entry {
  node: NodeRecord;
  info: Info;
  /** Info and node as JSON: a renewal that changes nothing makes no event. */
  fingerprint: string;
  expires: number;
  origin: string;
  seq: number;
  /** Order of receipt here, whatever the origin. */
  received: number;
}

const TOMBSTONE_MS = 30_000;

export class RegistryView {
  /** name -> version -> node id -> entry */
  private readonly services = new Map<string, Map<string, Map<string, Entry>>>();
  private readonly tombstones = new Map<string, { origin: string; seq: number; until: number }>();
  private received = 0;

  constructor(private readonly emit: (event: WatchEvent) => void) {}

  apply(a: Announcement, now = Date.now()): void {
    if (a.action === 'put') this.put(a, now);
    else this.remove(a, now);
  }

  /** Every version of `name` with its live nodes. */
  get(name: string, now = Date.now()): ServiceRecord[] {
    this.expire(now);
    const out: ServiceRecord[] = [];
    for (const nodes of this.services.get(name)?.values() ?? []) {
      const entries = [...nodes.values()];
      if (entries.length === 0) continue;
      // The newest announcement of a version speaks for its record (metadata, endpoints).
      const newest = entries.reduce((a, b) => (b.received > a.received ? b : a));
      out.push(structuredClone({ ...newest.info, nodes: entries.map((e) => e.node) }));
    }
    return out;
  }

  names(): string[] {
    return [...this.services.keys()];
  }

  has(name: string): boolean {
    return this.services.has(name);
  }

  /** Drops nodes whose TTL passed (one delete event per service version) and tombstones past their time. */
  expire(now = Date.now()): void {
    for (const [name, versions] of this.services) {
      for (const [version, nodes] of versions) {
        const gone: Entry[] = [];
        for (const [id, e] of nodes) {
          if (e.expires > now) continue;
          nodes.delete(id);
          gone.push(e);
        }
        if (gone.length) this.emit({ action: 'delete', service: structuredClone({ ...gone[0].info, nodes: gone.map((e) => e.node) }) });
        if (nodes.size === 0) versions.delete(version);
      }
      if (versions.size === 0) this.services.delete(name);
    }
    for (const [key, t] of this.tombstones) if (t.until <= now) this.tombstones.delete(key);
  }

  private put(a: Announcement, now: number): void {
    const { nodes, ...info } = a.service;
    let versions = this.services.get(info.name);
    let byId = versions?.get(info.version);
    const accepted: NodeRecord[] = [];
    let created = false;
    let changed = false;
    for (const node of nodes) {
      const key = keyOf(info, node);
      const tomb = this.tombstones.get(key);
      if (tomb && tomb.origin === a.origin && tomb.seq >= a.seq) continue;
      const existing = byId?.get(node.id);
      if (existing && existing.origin === a.origin && existing.seq > a.seq) continue;
      this.tombstones.delete(key);
      const fingerprint = JSON.stringify([info, node]);
      if (!existing) created = true;
      else if (existing.fingerprint !== fingerprint) changed = true;
      if (!versions) this.services.set(info.name, (versions = new Map()));
      if (!byId) versions.set(info.version, (byId = new Map()));
      byId.set(node.id, { node, info, fingerprint, expires: a.ttlMs > 0 ? now + a.ttlMs : Infinity, origin: a.origin, seq: a.seq, received: ++this.received });
      accepted.push(node);
    }
    if (created || changed) this.emit({ action: created ? 'create' : 'update', service: structuredClone({ ...info, nodes: accepted }) });
  }

  private remove(a: Announcement, now: number): void {
    const { nodes, ...info } = a.service;
    const versions = this.services.get(info.name);
    const byId = versions?.get(info.version);
    const gone: NodeRecord[] = [];
    for (const node of nodes) {
      this.tombstones.set(keyOf(info, node), { origin: a.origin, seq: a.seq, until: now + TOMBSTONE_MS });
      const existing = byId?.get(node.id);
      if (!existing || (existing.origin === a.origin && existing.seq > a.seq)) continue;
      byId!.delete(node.id);
      gone.push(existing.node);
    }
    if (byId?.size === 0) versions!.delete(info.version);
    if (versions?.size === 0) this.services.delete(info.name);
    if (gone.length) this.emit({ action: 'delete', service: structuredClone({ ...info, nodes: gone }) });
  }
}

function keyOf(info: Info, node: NodeRecord): string {
  return `${info.name}\u0000${info.version}\u0000${node.id}`;
}
