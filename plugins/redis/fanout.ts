import type Redis from 'ioredis';
import type { EventHandler } from '../../lib/broker/broker';
import { decodeEvent } from '../../lib/broker/envelope';
import type { Logger } from '../../lib/observe/logger';
import { hangUp, openConnection, toRpcError, whenReady, withDeadline } from './connection';

/**
 * Subscribers without a queue: Redis pub/sub on one subscriber connection per broker. Each channel is subscribed
 * once however many local handlers share it; ioredis re-subscribes the channels after a reconnect by itself (and
 * only it does, so nothing is subscribed twice). Each handler sees its events one at a time, in publish order.
 * Pub/sub keeps nothing: events published while a subscriber is disconnected are not delivered to it.
 */

interface LocalSubscriber {
  topic: string;
  handler: EventHandler;
  /** The handler's queue: each event waits for the previous one, so order holds for async handlers too. */
  tail: Promise<void>;
  waiting: number;
  /** Cleared by unsubscribe/close: an event already queued is not delivered after that. */
  active: boolean;
}

interface Channel {
  subscribers: Set<LocalSubscriber>;
  /** Resolves once Redis confirmed the SUBSCRIBE: a second local subscriber must not resolve before that. */
  live: Promise<void>;
}

/** Past this many events waiting for one slow handler, new ones are dropped (pub/sub is at-most-once anyway). */
const MAX_WAITING = 10_000;
const ID = 'phobos.broker.redis';

export class FanoutHub {
  private conn: Redis | undefined;
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly address: string,
    private readonly connectTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async add(channel: string, topic: string, handler: EventHandler): Promise<() => Promise<void>> {
    const conn = this.connection();
    const local: LocalSubscriber = { topic, handler, tail: Promise.resolve(), waiting: 0, active: true };
    let entry = this.channels.get(channel);
    if (!entry) {
      const live = whenReady(conn, this.connectTimeoutMs, ID).then(() => withDeadline(conn.subscribe(channel), this.connectTimeoutMs, ID, 'redis SUBSCRIBE'));
      entry = { subscribers: new Set(), live: live.then(() => undefined) };
      this.channels.set(channel, entry);
      const created = entry;
      live.catch(() => {
        if (this.channels.get(channel) === created) this.channels.delete(channel);
      });
    }
    entry.subscribers.add(local);
    try {
      await entry.live;
    } catch (err) {
      local.active = false;
      entry.subscribers.delete(local);
      throw toRpcError(err, ID, `redis subscribe to ${topic}`);
    }
    return () => this.remove(channel, local);
  }

  async close(): Promise<void> {
    for (const entry of this.channels.values()) for (const local of entry.subscribers) local.active = false;
    this.channels.clear();
    if (this.conn) hangUp(this.conn);
  }

  private async remove(channel: string, local: LocalSubscriber): Promise<void> {
    local.active = false;
    const entry = this.channels.get(channel);
    if (!entry?.subscribers.delete(local) || entry.subscribers.size > 0) return;
    this.channels.delete(channel);
    // If this fails (offline), ioredis may subscribe the channel again on reconnect; its events find no handler.
    await this.conn?.unsubscribe(channel).catch(() => undefined);
  }

  private connection(): Redis {
    if (this.conn) return this.conn;
    const conn = openConnection(this.address, 'phobos-broker-sub', this.logger);
    conn.on('messageBuffer', (channel: Buffer, message: Buffer) => this.dispatch(channel.toString(), message));
    this.conn = conn;
    return conn;
  }

  private dispatch(channel: string, message: Buffer): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const local of entry.subscribers) {
      if (local.waiting >= MAX_WAITING) {
        this.logger.warn({ topic: local.topic }, 'redis broker: subscriber too slow; dropping an event');
        continue;
      }
      local.waiting++;
      local.tail = local.tail.then(() => this.deliver(local, message)).finally(() => local.waiting--);
    }
  }

  private async deliver(local: LocalSubscriber, message: Buffer): Promise<void> {
    if (!local.active) return;
    let event;
    try {
      event = decodeEvent(local.topic, message);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, topic: local.topic }, 'redis broker: dropping a malformed event');
      return;
    }
    try {
      await local.handler(event);
    } catch (err) {
      // Pub/sub cannot give an event back: the failure is logged and the next event goes on.
      this.logger.error({ err, topic: local.topic }, 'event handler failed');
    }
  }
}
