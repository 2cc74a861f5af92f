import type { ServiceRecord } from '../../lib/registry/registry';

/**
 * Where the registry keeps things (docs/protocol.md, "Redis layout"), for a prefix P:
 *
 *   P:registry:services                SET   every service name with at least one node
 *   P:registry:nodes:<name>            HASH  node id -> that node's record (no TTL: what an expired node was)
 *   P:registry:node:<name>:<node id>   STRING the node's record, PX = its TTL (the liveness of the node)
 *   P:registry:events                  channel of {"action", "service"} JSON, one per change
 *
 * In node keys the name and id are URI-encoded, so `:` inside them cannot confuse parsing an expired key back.
 * A node's record is a ServiceRecord with just that node, JSON.
 */
export class RegistryKeys {
  readonly services: string;
  readonly events: string;
  private readonly nodePrefix: string;

  constructor(readonly prefix: string) {
    this.services = `${prefix}:registry:services`;
    this.events = `${prefix}:registry:events`;
    this.nodePrefix = `${prefix}:registry:node:`;
  }

  nodes(service: string): string {
    return `${this.prefix}:registry:nodes:${service}`;
  }

  node(service: string, nodeId: string): string {
    return `${this.nodePrefix}${encodeURIComponent(service)}:${encodeURIComponent(nodeId)}`;
  }

  /** The service and node id of a node key; undefined for any other key (expiry events cover the whole db). */
  parseNode(key: string): { service: string; nodeId: string } | undefined {
    if (!key.startsWith(this.nodePrefix)) return undefined;
    const parts = key.slice(this.nodePrefix.length).split(':');
    if (parts.length !== 2) return undefined;
    try {
      return { service: decodeURIComponent(parts[0]), nodeId: decodeURIComponent(parts[1]) };
    } catch {
      return undefined;
    }
  }
}

/** The fields of a record in a fixed order, `nodes` last (DEREGISTER appends node JSON after `"nodes":[`). */
export function recordJson(service: ServiceRecord, nodes = service.nodes): string {
  const { name, version, metadata, endpoints } = service;
  return JSON.stringify({ name, version, metadata: metadata ?? {}, endpoints: endpoints ?? [], nodes });
}

/** The record's JSON cut just after `"nodes":[`, for DEREGISTER to finish with the nodes that actually left. */
export function recordHead(service: ServiceRecord): string {
  const json = recordJson(service, []);
  return json.slice(0, json.length - 2);
}

/** Groups single-node records by version: one ServiceRecord per version with all its live nodes. */
export function mergeByVersion(records: ServiceRecord[]): ServiceRecord[] {
  const byVersion = new Map<string, ServiceRecord>();
  for (const r of records) {
    const seen = byVersion.get(r.version);
    if (seen) seen.nodes.push(...r.nodes);
    else byVersion.set(r.version, { ...r, nodes: [...r.nodes] });
  }
  return [...byVersion.values()];
}
