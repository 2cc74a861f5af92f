import type { ServiceRecord } from '../../lib/registry/registry';

/**
 * The value stored under a node's key: the service record holding just that node, as JSON. Parsing checks the
 * shape, so a foreign or damaged value under the prefix is skipped (and logged) instead of reaching callers.
 */

export function encodeNode(service: ServiceRecord, index: number): string {
  return JSON.stringify({ ...service, nodes: [service.nodes[index]] });
}

export function decodeNode(json: string): ServiceRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const r = v as Partial<ServiceRecord>;
  if (typeof r.name !== 'string' || typeof r.version !== 'string' || !Array.isArray(r.nodes) || r.nodes.length !== 1) return undefined;
  const node = r.nodes[0] as unknown as Record<string, unknown> | null;
  if (!node || typeof node.id !== 'string' || typeof node.address !== 'string') return undefined;
  return {
    name: r.name,
    version: r.version,
    metadata: isObject(r.metadata) ? (r.metadata as Record<string, string>) : {},
    endpoints: Array.isArray(r.endpoints) ? r.endpoints : [],
    nodes: [{ id: node.id, address: node.address, metadata: isObject(node.metadata) ? (node.metadata as Record<string, string>) : {} }],
  };
}

function isObject(v: unknown): boolean {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * One ServiceRecord per version with the nodes of that version merged; the most recently changed node speaks for
 * the version's metadata and endpoints. `entries` come in change order (oldest first).
 */
export function mergeVersions(entries: Iterable<ServiceRecord>): ServiceRecord[] {
  const byVersion = new Map<string, ServiceRecord>();
  for (const r of entries) {
    const key = `${r.name}\u0000${r.version}`;
    const seen = byVersion.get(key);
    byVersion.set(key, { ...structuredClone(r), nodes: [...(seen?.nodes ?? []), structuredClone(r.nodes[0])] });
  }
  return [...byVersion.values()];
}
