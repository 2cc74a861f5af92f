import { connect, type ConnectionOptions, type NatsConnection, type Status } from '@nats-io/transport-node';
import { RpcError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { withDeadline } from '../../lib/deadlines';

/**
 * One NATS connection, shared by the code of one plugin instance (transport, broker or registry): the address list,
 * the connect and reconnect options, the status log, and a `connected` flag the parts check before sending. The NATS
 * client buffers what is published while it is disconnected and sends it after reconnecting; Phobos would rather fail
 * fast (503) than let a call or a publish wait for an outage to end, so every sender asks `requireConnected()` first.
 */

export const DEFAULT_NATS_ADDRESS = '127.0.0.1:4222';

export interface NatsConnectionOptions {
  /** Comma-separated `host:port` or `nats://host:port` entries; default 127.0.0.1:4222. */
  address?: string;
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string;
  /** Milliseconds to wait for the first connection before failing with 503. Default 2000. */
  connectTimeout?: number;
  /** Pause between reconnect attempts, ms. Default 250: an outage costs little more than its own length. */
  reconnectTimeWait?: number;
  /** Extra client options, passed through to `connect()` last (they win). */
  connection?: Partial<ConnectionOptions>;
  logger?: Logger;
}

export type ConnectionEvent = 'disconnect' | 'reconnect' | 'close';

/** `127.0.0.1:4222,nats://h:4223` → the server list the client takes (it accepts both forms). */
export function natsServers(address: string | undefined): string[] {
  const list = (address ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? list : [DEFAULT_NATS_ADDRESS];
}

export class NatsConnector {
  readonly logger: Logger;
  private nc: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private up = false;
  private closed = false;
  private readonly listeners = new Set<(event: ConnectionEvent) => void>();

  constructor(private readonly options: NatsConnectionOptions = {}) {
    this.logger = options.logger ?? silentLogger;
  }

  /** True while the connection to a server is open (false before the first connect, during an outage, after close). */
  get connected(): boolean {
    return this.up;
  }

  /** The server's largest accepted message, in bytes (1 MiB until connected: the server default). */
  get maxPayload(): number {
    return this.nc?.info?.max_payload ?? 1024 * 1024;
  }

  /** The connection, connecting on first use. A failed first connect rejects with 503 and is tried again next time. */
  get(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(unavailable('the NATS connection is closed'));
    if (this.nc) return Promise.resolve(this.nc);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** The open connection, or a 503 at once when it is not open right now (never waits for a reconnect). */
  requireConnected(): NatsConnection {
    if (!this.nc || !this.up) throw unavailable(this.nc ? 'the connection to NATS is down (reconnecting)' : 'not connected to NATS');
    return this.nc;
  }

  /** Runs `listener` on disconnect, reconnect and close; returns a function that removes it. */
  on(listener: (event: ConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Settles with `p`, or fails first: 408 after `ms`, 503 as soon as the connection drops (what was under way will
   * not be confirmed; better said now than at the deadline).
   */
  async guard<T>(p: Promise<T>, ms: number, what: string, errorId = NATS_ERROR_ID): Promise<T> {
    let off: (() => void) | undefined;
    const dropped = new Promise<never>((_, reject) => {
      off = this.on((event) => event !== 'reconnect' && reject(new RpcError(errorId, 503, `${what}: the connection to NATS was lost`)));
    });
    dropped.catch(() => undefined);
    try {
      return await withDeadline(Promise.race([p, dropped]), ms, () => new RpcError(errorId, 408, `${what}: no confirmation within ${ms} ms`));
    } finally {
      off?.();
    }
  }

  /** Closes the connection: pending requests of the client fail, subscriptions end. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nc = this.nc ?? (await this.connecting?.catch(() => undefined));
    this.up = false;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
    this.emit('close');
    this.listeners.clear();
  }

  private async open(): Promise<NatsConnection> {
    const servers = natsServers(this.options.address);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: this.options.name,
        timeout: this.options.connectTimeout ?? 2000,
        // Keep trying for ever once connected: an outage ends when the server is back, not when we gave up.
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.options.reconnectTimeWait ?? 250,
        reconnectJitter: 100,
        // A server that vanishes without closing the socket is noticed after two missed pings.
        pingInterval: 10_000,
        maxPingOut: 2,
        ...this.options.connection,
      });
    } catch (err) {
      throw unavailable(`cannot connect to NATS at ${servers.join(',')}: ${(err as Error).message}`);
    }
    if (this.closed) {
      await nc.close().catch(() => undefined);
      throw unavailable('the NATS connection is closed');
    }
    this.nc = nc;
    this.up = true;
    void this.watchStatus(nc);
    void nc.closed().then(() => {
      this.up = false;
      this.emit('close');
    });
    this.logger.debug({ servers }, 'connected to NATS');
    return nc;
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      switch (s.type) {
        case 'disconnect':
          this.up = false;
          this.logger.warn({ server: s.server }, 'NATS connection lost; reconnecting');
          this.emit('disconnect');
          break;
        case 'reconnect':
          this.up = true;
          this.logger.info({ server: s.server }, 'NATS connection restored');
          this.emit('reconnect');
          break;
        case 'error':
          this.logger.warn({ err: s.error }, 'NATS server error');
          break;
        case 'slowConsumer':
          this.logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'NATS subscription is a slow consumer');
          break;
        default:
          break;
      }
    }
  }

  private emit(event: ConnectionEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.logger.warn({ err, event }, 'NATS connection listener failed');
      }
    }
  }
}

export const NATS_ERROR_ID = 'phobos.nats';

export function unavailable(detail: string): RpcError {
  return new RpcError(NATS_ERROR_ID, 503, detail);
}
