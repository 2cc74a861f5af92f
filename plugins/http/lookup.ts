import { TOPIC_SERVICE_PREFIX } from '../../lib/broker/p2p';
import type { RegistryCache } from '../../lib/registry/cache';
import type { EndpointRecord, ServiceRecord } from '../../lib/registry/registry';
import { gatewayError } from './errors';

/**
 * Finds the endpoint a request names in the registry (through the service's watch-fed cache: a warm lookup is a Map
 * read). This is what makes an unknown service or endpoint a 404 instead of the client's 503 "no nodes", and what
 * tells a streaming endpoint from a unary one before calling. Event subscribers and the broker's topic records are
 * not callable and are not found.
 */

/** Service names worth a registry lookup: up to 256 characters, no slash, no control characters. */
function saneName(name: string): boolean {
  if (name.length === 0 || name.length > 256) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f) return false;
  }
  return true;
}

export function isCallable(e: EndpointRecord): boolean {
  return e.metadata?.subscriber !== 'true';
}

export function isPublicService(name: string): boolean {
  return !name.startsWith(TOPIC_SERVICE_PREFIX);
}

export async function findEndpoint(cache: RegistryCache, service: string, endpoint: string): Promise<EndpointRecord> {
  if (!saneName(service) || !isPublicService(service)) throw gatewayError(404, `unknown service ${JSON.stringify(service)}`);
  let records: ServiceRecord[] | undefined = cache.peek(service);
  if (!records) {
    try {
      records = await cache.getService(service);
    } catch (err) {
      throw gatewayError(503, `the registry cannot be reached: ${(err as Error).message}`);
    }
  }
  if (records.length === 0) throw gatewayError(404, `unknown service ${JSON.stringify(service)}`);
  for (const r of records) {
    for (const e of r.endpoints) if (e.name === endpoint && isCallable(e)) return e;
  }
  throw gatewayError(404, `unknown endpoint ${JSON.stringify(endpoint)} of service ${service}`);
}

/** The endpoint's stream kind from its registry record ('server', 'client', 'bidi'), if it streams. */
export function streamKind(e: EndpointRecord): string | undefined {
  return e.metadata?.stream;
}
