/**
 * Gateway options and their defaults, resolved once when the gateway is built so the per-request path only reads
 * plain numbers and booleans.
 */

export interface CorsOptions {
  /** Origins allowed to call (exact match, e.g. `https://app.example.com`); `*` allows any. */
  origins: string[];
  /** Send `Access-Control-Allow-Credentials: true` (needs explicit origins, never `*`). */
  credentials?: boolean;
}

export interface GatewayOptions {
  /** `host:port` to listen on (default 127.0.0.1:8080; port 0 picks a free one; a bare port means 127.0.0.1). */
  address?: string;
  /** Headers with this prefix become call metadata, prefix stripped (default `x-phobos-`). */
  headerPrefix?: string;
  /** Largest request body in bytes, after gzip/deflate inflation (default 1 MiB). Larger is 413. */
  bodyLimit?: number;
  /** Default call deadline in ms (default: the service client's, --client_request_timeout). */
  timeout?: number;
  /** Cap for a per-request `<prefix>timeout` header, in ms (default 60 s, at least `timeout`). */
  maxTimeout?: number;
  /** CORS: `true` allows any origin (no credentials); an object names the origins. Off by default. */
  cors?: boolean | CorsOptions;
  /** gzip responses over `gzipThreshold` bytes when the client accepts it (default true). */
  gzip?: boolean;
  /** Smallest response body worth compressing, in bytes (default 1024). */
  gzipThreshold?: number;
  /** Time a client has to send the request headers, in ms (default 10 s); then 408 and the socket is closed. */
  headersTimeout?: number;
  /** Time a client has to send the whole body once the headers arrived, in ms (default 10 s); then 408. */
  bodyTimeout?: number;
  /** Largest JSON-RPC batch (default 100 requests); calls of a batch run at most `batchConcurrency` at once (8). */
  batchLimit?: number;
  batchConcurrency?: number;
  /** A comment line on open event streams every this many ms, so proxies keep them open (default 15 s; 0 = off). */
  sseHeartbeat?: number;
  /** How long close() waits for requests in flight before cutting their connections, in ms (default 5 s). */
  drainTimeout?: number;
}

export interface ResolvedCors {
  any: boolean;
  origins: Set<string>;
  credentials: boolean;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  headerPrefix: string;
  bodyLimit: number;
  timeout: number;
  maxTimeout: number;
  cors: ResolvedCors | undefined;
  gzip: boolean;
  gzipThreshold: number;
  headersTimeout: number;
  bodyTimeout: number;
  batchLimit: number;
  batchConcurrency: number;
  sseHeartbeat: number;
  drainTimeout: number;
}

export const DEFAULT_ADDRESS = '127.0.0.1:8080';
export const MIB = 1024 * 1024;

export function resolveOptions(options: GatewayOptions, clientTimeout: number): ResolvedOptions {
  const { host, port } = parseAddress(options.address ?? DEFAULT_ADDRESS);
  const timeout = positive('timeout', options.timeout ?? clientTimeout);
  const cors = resolveCors(options.cors);
  const prefix = (options.headerPrefix ?? 'x-phobos-').toLowerCase();
  if (!/^[a-z0-9-]+$/.test(prefix)) throw new Error(`gateway headerPrefix "${options.headerPrefix}" must be letters, digits and dashes`);
  return {
    host,
    port,
    headerPrefix: prefix,
    bodyLimit: positive('bodyLimit', options.bodyLimit ?? MIB),
    timeout,
    maxTimeout: Math.max(timeout, positive('maxTimeout', options.maxTimeout ?? 60_000)),
    cors,
    gzip: options.gzip ?? true,
    gzipThreshold: options.gzipThreshold ?? 1024,
    headersTimeout: positive('headersTimeout', options.headersTimeout ?? 10_000),
    bodyTimeout: positive('bodyTimeout', options.bodyTimeout ?? 10_000),
    batchLimit: positive('batchLimit', options.batchLimit ?? 100),
    batchConcurrency: positive('batchConcurrency', options.batchConcurrency ?? 8),
    sseHeartbeat: options.sseHeartbeat ?? 15_000,
    drainTimeout: options.drainTimeout ?? 5000,
  };
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`gateway option ${name} must be a positive number, not ${value}`);
  return value;
}

function resolveCors(cors: GatewayOptions['cors']): ResolvedCors | undefined {
  if (!cors) return undefined;
  if (cors === true) return { any: true, origins: new Set(), credentials: false };
  const any = cors.origins.includes('*');
  // Browsers refuse credentials with a wildcard origin; saying so here beats a silent CORS failure in the browser.
  if (any && cors.credentials) throw new Error('gateway cors: credentials need explicit origins, not "*"');
  return { any, origins: new Set(cors.origins), credentials: cors.credentials ?? false };
}

/** `host:port`, `[v6]:port`, `:port` or `port`; the host defaults to loopback (never every interface by accident). */
export function parseAddress(address: string): { host: string; port: number } {
  const text = address.trim().replace(/^https?:\/\//, '');
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(text);
  const bare = /^\d+$/.test(text);
  const host = bare ? '' : (m?.[1] ?? m?.[2] ?? '');
  const portText = bare ? text : m?.[3];
  const port = portText === undefined ? NaN : Number(portText);
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`gateway address "${address}" is not host:port (port 0-65535)`);
  return { host: host || '127.0.0.1', port };
}
