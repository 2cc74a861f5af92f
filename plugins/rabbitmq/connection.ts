import * as amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { errors } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import type { ResolvedOptions } from './options';
import { ERROR_ID } from './publisher';
import { declareExchange } from './topology';

/**
 * One AMQP connection that keeps itself up: it dials, and whenever the connection is lost (the node stopped, the
 * server closed it, a heartbeat went missing) it dials again with a doubling, jittered back-off, across the URLs in
 * turn, until closed. Each successful dial is a new Session; the broker re-attaches its subscriptions to it.
 */

export interface Session {
  /** Increases with every connection, so a subscription can tell "already attached here" from "attached before". */
  readonly id: number;
  readonly connection: ChannelModel;
  /** The confirm channel every publish (and every republished retry) goes through. */
  readonly publisher: ConfirmChannel;
}

export type ConnectionState = 'idle' | 'connecting' | 'up' | 'down' | 'closed';

export interface ConnectionEvents {
  /** A new session is live: the broker attaches its subscriptions to it. */
  up(session: Session): void;
}

/** The URL for logs: the password never goes into them. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function withHeartbeat(url: string, seconds: number): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${seconds}`;
}

export class AmqpConnection {
  private stateNow: ConnectionState = 'idle';
  private current: Session | undefined;
  private blockedReason: string | undefined;
  private attempt = 0;
  private dials = 0;
  private sessions = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiters = new Set<{ resolve: (s: Session) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly logger: Logger,
    private readonly events: ConnectionEvents,
  ) {}

  get state(): ConnectionState {
    return this.stateNow;
  }

  /** The live session, if any. */
  get live(): Session | undefined {
    return this.current;
  }

  /** The live session, or a 503 saying why there is none: callers fail fast instead of waiting for a reconnect. */
  session(): Session {
    if (this.current) {
      if (this.blockedReason !== undefined) throw errors.unavailable(ERROR_ID, `rabbitmq is blocking publishers: ${this.blockedReason}`);
      return this.current;
    }
    throw errors.unavailable(ERROR_ID, `rabbitmq is not connected (${this.stateNow})`);
  }

  /**
   * Starts dialling (once) and waits for a session: a 503 if the dial under way fails, or after `ms` at most; the
   * dialling goes on in the background either way.
   */
  ready(ms: number): Promise<Session> {
    if (this.stateNow === 'closed') return Promise.reject(errors.unavailable(ERROR_ID, 'rabbitmq broker is closed'));
    if (this.stateNow === 'idle') void this.dial();
    if (this.current) return Promise.resolve(this.current);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (s: Session) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(errors.unavailable(ERROR_ID, `no connection to rabbitmq (${this.options.urls.map(redact).join(', ')}) within ${ms} ms`));
      }, ms);
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    clearTimeout(this.timer);
    for (const w of this.waiters) w.reject(errors.unavailable(ERROR_ID, 'rabbitmq broker closed'));
    this.waiters.clear();
    const s = this.current;
    this.current = undefined;
    if (s) await s.connection.close().catch(() => undefined);
  }

  private async dial(): Promise<void> {
    if (this.isClosed()) return;
    this.stateNow = 'connecting';
    const url = this.options.urls[this.dials++ % this.options.urls.length];
    let connection: ChannelModel | undefined;
    try {
      connection = await amqp.connect(withHeartbeat(url, this.options.heartbeat), { timeout: this.options.connectTimeout });
      const conn = connection;
      // Registered before anything else can fail, so a loss at any later point is seen (and ignored if not current).
      conn.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'rabbitmq: connection error'));
      let gone = false;
      conn.on('close', () => {
        gone = true;
        this.lost(conn);
      });
      conn.on('blocked', (reason: string) => {
        this.blockedReason = reason;
        this.logger.warn({ reason }, 'rabbitmq: the node blocks publishers (resource alarm); publishes fail with 503');
      });
      conn.on('unblocked', () => {
        this.blockedReason = undefined;
        this.logger.info('rabbitmq: the node accepts publishes again');
      });
      const publisher = await conn.createConfirmChannel();
      publisher.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'rabbitmq: publish channel error'));
      // The publish channel closes by itself only on a protocol error; start over on a fresh connection.
      publisher.on('close', () => {
        if (this.current?.connection === conn) conn.close().catch(() => undefined);
      });
      await declareExchange(publisher, this.options.exchange);
      // Closed while the channel was being set up: not a session, dial again.
      if (gone) throw new Error('connection closed during setup');
      if (this.isClosed()) {
        await conn.close().catch(() => undefined);
        return;
      }
      const session: Session = { id: ++this.sessions, connection: conn, publisher };
      this.current = session;
      this.blockedReason = undefined;
      this.stateNow = 'up';
      this.logger.info({ url: redact(url), session: session.id, afterAttempts: this.attempt + 1 }, 'rabbitmq: connected');
      this.attempt = 0;
      for (const w of this.waiters) w.resolve(session);
      this.waiters.clear();
      this.events.up(session);
    } catch (err) {
      if (connection) await connection.close().catch(() => undefined);
      if (this.isClosed()) return;
      this.logger.warn({ url: redact(url), err: (err as Error).message }, 'rabbitmq: connect failed');
      // Whoever waits for a connection hears now, not after a timeout: fail fast, keep dialling in the background.
      for (const w of this.waiters) w.reject(errors.unavailable(ERROR_ID, `cannot connect to rabbitmq at ${redact(url)}: ${(err as Error).message}`));
      this.waiters.clear();
      this.retry();
    }
  }

  /** A method, not a field test: the state changes across the awaits in dial(), which TypeScript cannot see. */
  private isClosed(): boolean {
    return this.stateNow === 'closed';
  }

  private lost(conn: ChannelModel): void {
    if (this.current?.connection !== conn) return;
    this.current = undefined;
    if (this.stateNow === 'closed') return;
    this.stateNow = 'down';
    this.logger.warn('rabbitmq: connection lost; publishes fail with 503 until it is back');
    this.retry();
  }

  private retry(): void {
    const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** Math.min(this.attempt, 20));
    // Jitter (half to all of the ceiling) so that many clients of a restarted node do not all come back at once.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt++;
    this.stateNow = 'down';
    this.logger.info({ delay, attempt: this.attempt }, 'rabbitmq: reconnecting');
    this.timer = setTimeout(() => void this.dial(), delay);
  }
}
