import { type Logger, silentLogger } from '../../observe/logger';
import { TRANSPORT_ERROR_ID } from '../transport';

/** Defaults for every listener and socket a TcpTransport creates; per-call ListenOptions/DialOptions override them. */
export interface TcpTransportOptions {
  /** Largest frame accepted or sent, header included; also the cap on an inflated gzip body. Default 4 MiB. */
  maxFrameSize?: number;
  /** A frame half received for longer than this closes the connection (ms). Default 10 s. */
  frameTimeout?: number;
  /** Requests one server connection may have in flight before the server stops reading it. Default 1024. */
  maxInFlight?: number;
  /** Bodies larger than this are gzipped when that makes them smaller; Infinity disables. Default 1024 bytes. */
  compressThreshold?: number;
  /**
   * Compress on loopback connections too. Off by default: compression trades CPU for bandwidth, and a connection
   * to this same machine has bandwidth to spare, so there it only adds latency (about 6x less 16 KiB throughput).
   */
  compressLoopback?: boolean;
  /** Time allowed to establish a connection before dial fails with 503 (ms). Default 3 s. */
  connectTimeout?: number;
  /** Listener.close destroys connections still open after this long (ms). Default 1 s. */
  closeGrace?: number;
  /**
   * A connection (either side) that has received nothing for this long sends a ping (ms). Default 5 s; 0 disables
   * heartbeats. Any received frame resets the wait, so busy connections never ping.
   */
  heartbeatInterval?: number;
  /** After a heartbeat ping, how long to wait for any frame before closing the connection as dead (ms). Default 5 s; 0 disables. */
  heartbeatTimeout?: number;
  logger?: Logger;
}

export type ResolvedOptions = Required<TcpTransportOptions>;

export const DEFAULTS: ResolvedOptions = {
  maxFrameSize: 4 * 1024 * 1024,
  frameTimeout: 10_000,
  maxInFlight: 1024,
  compressThreshold: 1024,
  compressLoopback: false,
  connectTimeout: 3_000,
  closeGrace: 1_000,
  heartbeatInterval: 5_000,
  heartbeatTimeout: 5_000,
  logger: silentLogger,
};

/** Merges option layers, later ones winning; `undefined` fields never override. */
export function resolveOptions(...layers: (TcpTransportOptions | undefined)[]): ResolvedOptions {
  const out = { ...DEFAULTS };
  for (const layer of layers) {
    if (!layer) continue;
    for (const key of Object.keys(layer) as (keyof TcpTransportOptions)[]) {
      const v = layer[key];
      if (v !== undefined) (out as Record<string, unknown>)[key] = v;
    }
  }
  // Lengths travel as u32, so no frame can be larger than that whatever the option says.
  out.maxFrameSize = Math.min(Math.max(out.maxFrameSize, 64), 0xffffffff);
  out.maxInFlight = Math.max(1, out.maxInFlight);
  return out;
}

/** The options a connection encodes with: no compression to a loopback peer unless compressLoopback is set. */
export function connectionOptions(opts: ResolvedOptions, remoteAddress: string | undefined): ResolvedOptions {
  if (opts.compressLoopback || opts.compressThreshold === Infinity || !isLoopback(remoteAddress)) return opts;
  return { ...opts, compressThreshold: Infinity };
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Splits `host:port`, `[v6]:port` or `:port`; throws on anything else. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid tcp address "${address}": expected host:port`);
  return { host: m[1] ?? m[2], port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export { TRANSPORT_ERROR_ID };
