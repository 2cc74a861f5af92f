import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import { withDeadline as deadline } from '../../lib/deadlines';

/**
 * Connections to one Redis server, set up for fail-fast behaviour. ioredis by default queues commands while it is
 * disconnected and re-sends unanswered ones after reconnecting, so during an outage a publish would wait (possibly
 * forever) and then go out late, maybe twice. Here every connection has no offline queue (a command while
 * disconnected fails at once), fails the commands in flight when the connection drops (maxRetriesPerRequest 0) and
 * never re-sends them. ioredis still reconnects by itself, and re-subscribes its pub/sub channels when it does.
 */

/** Pause before reconnect attempt n: short at first (a restart is usually quick), never above 1 s. */
const reconnectDelay = (attempt: number): number => Math.min(50 * attempt, 1000);

export function openConnection(address: string, name: string, logger: Logger): Redis {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `redis://${address.includes(':') ? address : `${address}:6379`}`;
  const conn = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: true,
    retryStrategy: reconnectDelay,
    connectTimeout: 5000,
    // Closing waits this long for the socket to close before destroying it; ioredis' 2 s kept processes (and test
    // runs) alive after close() when the socket had already failed (its 'close' never comes again).
    disconnectTimeout: 200,
    connectionName: name,
  });
  // ioredis reports every failed reconnect as an 'error' event; without a listener it prints them to the console.
  let warned = false;
  conn.on('error', (err: Error) => {
    if (!warned) logger.warn({ err: err.message, connection: name }, 'redis connection failed; reconnecting');
    warned = true;
  });
  conn.on('ready', () => {
    if (warned) logger.info({ connection: name }, 'redis connection restored');
    warned = false;
  });
  return conn;
}

/**
 * Resolves once `conn` is ready, starting it if it was never started; rejects with 503 after `ms` or when the
 * connection was closed for good. ioredis keeps trying to reconnect after the deadline.
 */
export function whenReady(conn: Redis, ms: number, id: string): Promise<void> {
  if (conn.status === 'ready') return Promise.resolve();
  if (conn.status === 'end') return Promise.reject(new RpcError(id, 503, 'redis connection is closed'));
  if (conn.status === 'wait') conn.connect().catch(() => undefined); // failures show as 'error' events; it retries
  return new Promise((resolve, reject) => {
    const done = (err?: RpcError) => {
      clearTimeout(timer);
      conn.off('ready', onReady);
      conn.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new RpcError(id, 503, 'redis connection is closed'));
    const timer = setTimeout(() => done(new RpcError(id, 503, `redis at ${describe(conn)} is not reachable within ${ms} ms`)), ms);
    conn.on('ready', onReady);
    conn.on('end', onEnd);
  });
}

export function describe(conn: Redis): string {
  return `${conn.options.host}:${conn.options.port}`;
}

/** Server replies that mean "not now" rather than "wrong": the server is loading, busy or read-only. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|OOM)\b/;

/**
 * Maps an ioredis failure to an RpcError: an error reply from the server keeps its text (500, or 503 when it says
 * the server cannot serve now); anything else is a connection problem (offline, closed, aborted): 503.
 */
export function toRpcError(err: unknown, id: string, what: string): RpcError {
  if (err instanceof RpcError) return err;
  const e = err as Error;
  if (e?.name === 'ReplyError') return new RpcError(id, TRANSIENT_REPLY.test(e.message) ? 503 : 500, `${what}: ${e.message}`);
  return new RpcError(id, 503, `${what}: redis unavailable (${e?.message ?? String(err)})`);
}

/** `p`, or a 408 after `ms`; the command itself is not cancelled (Redis has no way to), only no longer awaited. */
export function withDeadline<T>(p: Promise<T>, ms: number, id: string, what: string): Promise<T> {
  return deadline(p, ms, () => new RpcError(id, 408, `${what} took longer than ${ms} ms`));
}

/** A Lua script run by its SHA1; loaded with EVAL when the server does not know it (first use, or after a restart). */
export class Script {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; bulk replies come back as strings, or as Buffers with `buffers` (binary envelopes). */
  async run(conn: Redis, keys: string[], args: (string | number | Buffer)[], buffers = false): Promise<unknown> {
    const send = (command: string, script: string) =>
      buffers ? conn.callBuffer(command, script, keys.length, ...keys, ...args) : conn.call(command, script, keys.length, ...keys, ...args);
    try {
      return await send('EVALSHA', this.sha);
    } catch (err) {
      if (!/^NOSCRIPT/.test((err as Error).message ?? '')) throw err;
      return send('EVAL', this.source);
    }
  }
}

/** Closes a connection without waiting for replies; safe on one that never connected or already ended. */
export function hangUp(conn: Redis): void {
  if (conn.status !== 'end') conn.disconnect(false);
}

/** Keys and channels carry names verbatim except `:`-free segments where a name is parsed back (registry keys). */
export function segment(name: string): string {
  return encodeURIComponent(name);
}
