import type { Logger } from '../../lib/observe/logger';

/** Options of the redis broker and registry (from `createService({ plugins: { redis: {...} } })`), and their defaults. */

export interface RedisConnectionOptions {
  /** `host:port`, `redis://[user:pass@]host:port[/db]` or `rediss://...`; default 127.0.0.1:6379. */
  address?: string;
  /** Prefix of every key and channel this plugin uses; default `phobos`. Two prefixes never see each other. */
  prefix?: string;
  /** How long connect() waits for the server before failing with 503 (ms). */
  connectTimeoutMs?: number;
  logger?: Logger;
}

export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** Approximate bound of every topic stream (XADD MAXLEN ~): what a queue group can fall behind by. */
  maxLen?: number;
  /** XREADGROUP BLOCK time (ms): how long one read waits for new entries before reading again. */
  blockMs?: number;
  /** Entries fetched per read or claim. */
  batch?: number;
  /** A pending entry idle this long (ms) belongs to a member that died or hangs: another member claims it. */
  claimIdleMs?: number;
  /** How often (ms) each member looks for abandoned entries to claim. */
  claimIntervalMs?: number;
  /** After a handler's failure, the member tries the same entry again after this long (ms). */
  retryDelayMs?: number;
  /** Deliveries of one entry before it moves to the dead-letter stream `<prefix>:dead:<topic>`. */
  maxDeliveries?: number;
  /** Consumers with nothing pending and idle this long (ms) are removed from their group (dead members). */
  pruneIdleMs?: number;
  /** Default publish deadline (ms) when publish() is not given one. */
  publishTimeoutMs?: number;
}

export interface RedisRegistryOptions extends RedisConnectionOptions {
  /** Seconds a registration lives when register() is not given a ttl. */
  ttl?: number;
  /**
   * Enable keyspace expiry events on the server (CONFIG SET notify-keyspace-events +Ex) so an expired node reaches
   * watchers at once; default true. Without them (or when CONFIG is refused) watchers sweep every `sweepIntervalMs`.
   */
  keyspaceEvents?: boolean;
  /** Expiry sweep period (ms) when keyspace events are off or refused. */
  sweepIntervalMs?: number;
  /** Deadline of every registry command (ms). */
  commandTimeoutMs?: number;
}

export const DEFAULT_ADDRESS = '127.0.0.1:6379';
export const DEFAULT_PREFIX = 'phobos';

export const BROKER_DEFAULTS = {
  maxLen: 10_000,
  blockMs: 2_000,
  batch: 16,
  claimIdleMs: 30_000,
  retryDelayMs: 1_000,
  maxDeliveries: 5,
  publishTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
};

export const REGISTRY_DEFAULTS = {
  ttl: 90,
  sweepIntervalMs: 1_000,
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
};

/** The first address of a comma-separated list: a single server (Sentinel and Cluster are not supported). */
export function firstAddress(address: string | undefined): string {
  const first = address?.split(',')[0]?.trim();
  return first || DEFAULT_ADDRESS;
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`redis: ${name} must be a positive number, got ${value}`);
  return v;
}
