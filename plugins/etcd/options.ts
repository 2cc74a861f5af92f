import type { Logger } from '../../lib/observe/logger';
import { RpcError } from '../../lib/errors';
import { withDeadline } from '../../lib/deadlines';

/** Options of the etcd registry, the defaults it runs by, and the one helper every etcd call goes through. */

export interface EtcdRegistryOptions {
  /** etcd client endpoints, `host:port` (or `http://host:port`), as a list or comma-separated; default 127.0.0.1:2379. */
  hosts?: string | string[];
  /** Base path of the keys; a node lives at `<prefix>/<service>/<node id>`. Default `/phobos/registry`. */
  prefix?: string;
  /** TTL in seconds when register() is not given one; default 90 (the Service passes --register_ttl anyway). */
  ttl?: number;
  /** Deadline of each etcd call in ms (put, delete, range, lease grant); default 3000. */
  timeout?: number;
  logger?: Logger;
}

export const DEFAULT_HOST = '127.0.0.1:2379';
export const DEFAULT_PREFIX = '/phobos/registry';
export const DEFAULT_TTL = 90;
export const DEFAULT_TIMEOUT_MS = 3000;
/** Retry delays while etcd does not answer (resync of the view, re-grant of a lost lease): doubling, capped. */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 2000;

export const ERROR_ID = 'phobos.registry.etcd';

export function hostsOf(hosts: string | string[] | undefined): string[] {
  const list = (Array.isArray(hosts) ? hosts : (hosts ?? '').split(',')).map((h) => h.trim()).filter(Boolean);
  return list.length ? list : [DEFAULT_HOST];
}

/** etcd needs whole seconds, at least 1 (it raises anything under its own minimum, about 2 s, by itself). */
export function leaseTtl(ttl: number): number {
  if (!Number.isFinite(ttl) || ttl <= 0) throw new RpcError(ERROR_ID, 400, `etcd: ttl must be a positive number of seconds, got ${ttl}`);
  return Math.max(1, Math.ceil(ttl));
}

/** `<prefix>/<service>/<node id>`; the prefix is kept without a trailing slash. */
export function nodeKey(prefix: string, service: string, nodeId: string): string {
  return `${prefix}/${service}/${nodeId}`;
}

export function normalPrefix(prefix: string | undefined): string {
  const p = (prefix ?? DEFAULT_PREFIX).replace(/\/+$/, '');
  if (!p) throw new RpcError(ERROR_ID, 400, 'etcd: the key prefix must not be empty');
  return p;
}

/**
 * Runs one etcd call under a deadline. The client already carries a gRPC deadline on unary calls, but its retry
 * policy may run it up to three times; this bounds the whole. Any failure, timeouts included, is a 503: to the
 * caller the registry is unavailable, whatever the cause inside.
 */
export async function bounded<T>(what: string, work: Promise<T>, ms: number): Promise<T> {
  try {
    return await withDeadline(work, ms, () => new RpcError(ERROR_ID, 503, `etcd: ${what} did not answer within ${ms} ms`));
  } catch (err) {
    if (err instanceof RpcError) throw err;
    throw new RpcError(ERROR_ID, 503, `etcd: ${what} failed: ${(err as Error).message}`);
  }
}
