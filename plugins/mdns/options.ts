import type { Logger } from '../../lib/observe/logger';

/** Options of the mdns registry, and the timings it runs by. */

export interface MdnsRegistryOptions {
  /** IPv4 address or interface name to announce on. Unset = loopback only; naming one makes the registry LAN-wide. */
  interface?: string;
  /** Address the socket binds to. Must be a wildcard to receive multicast; default 0.0.0.0. */
  bind?: string;
  /** UDP port; default 5353 (the mDNS port, shared with other speakers through SO_REUSEADDR). */
  port?: number;
  /** Default registration TTL in seconds, when register() is not given one; default 30. */
  ttl?: number;
  /** Milliseconds between re-announcements of each node; default a third of its TTL, never more than half. */
  announceInterval?: number;
  logger?: Logger;
}

export const DEFAULT_TTL = 30;
/** getService of an unknown name: ask again this often, give up after LOOKUP_MS. */
export const RETRY_MS = 150;
export const LOOKUP_MS = 1000;
/** After the first node of a looked-up service answers, wait this long for its siblings' answers. */
export const SETTLE_MS = 50;
/** listServices' first browse: ask twice, collect for this long. */
export const BROWSE_MS = 300;
/** close() waits at most this long for goodbyes to leave. */
export const GOODBYE_MS = 1000;
/** A received TTL above this is clamped (keeps expiry timers in range; nobody needs a week-long registration). */
export const MAX_TTL = 7 * 24 * 3600;

export function clampTtl(ttl: number): number {
  if (!Number.isFinite(ttl) || ttl <= 0) throw new Error(`mdns: ttl must be a positive number of seconds, got ${ttl}`);
  return Math.min(MAX_TTL, Math.max(1, Math.round(ttl)));
}

export function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
