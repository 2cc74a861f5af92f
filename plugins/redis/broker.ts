import type Redis from 'ioredis';
import type { Broker, Event, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../../lib/broker/broker';
import { encodeEvent } from '../../lib/broker/envelope';
import { RpcError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { hangUp, openConnection, toRpcError, whenReady, withDeadline } from './connection';
import { StreamConsumer, type ConsumerSettings } from './consumer';
import { FanoutHub } from './fanout';
import { BROKER_DEFAULTS, DEFAULT_PREFIX, firstAddress, positive, type RedisBrokerOptions } from './options';
import { PUBLISH } from './scripts';

const ID = 'phobos.broker.redis';

/**
 * The `redis` broker. Subscribers without a queue use pub/sub (fan-out, nothing kept); queue groups use one stream
 * per topic (`<prefix>:events:<topic>`) with one consumer group per queue and one consumer per subscriber, so an
 * event is handled by one member, acknowledged after its handler succeeded, retried when it failed, and claimed by
 * another member when its holder died. publish() is one script: PUBLISH to the topic's channel (same name as the
 * stream) and XADD to the stream if it exists, i.e. if some group reads it; streams are trimmed to ~maxLen.
 */
export class RedisBroker implements Broker {
  readonly name = 'redis';
  private readonly prefix: string;
  private readonly address: string;
  private readonly logger: Logger;
  private readonly cmd: Redis;
  private readonly fanout: FanoutHub;
  private readonly settings: Omit<ConsumerSettings, 'stream' | 'deadLetter' | 'group' | 'topic' | 'durable'>;
  private readonly publishTimeoutMs: number;
  private readonly unsubscribers = new Set<() => Promise<void>>();
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(options: RedisBrokerOptions = {}) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.address = firstAddress(options.address);
    this.logger = options.logger ?? silentLogger;
    const claimIdleMs = positive('claimIdleMs', options.claimIdleMs, BROKER_DEFAULTS.claimIdleMs);
    const blockMs = positive('blockMs', options.blockMs, BROKER_DEFAULTS.blockMs);
    this.settings = {
      address: this.address,
      maxLen: positive('maxLen', options.maxLen, BROKER_DEFAULTS.maxLen),
      blockMs,
      batch: positive('batch', options.batch, BROKER_DEFAULTS.batch),
      claimIdleMs,
      claimIntervalMs: positive('claimIntervalMs', options.claimIntervalMs, Math.max(100, Math.min(claimIdleMs / 2, 5000))),
      retryDelayMs: positive('retryDelayMs', options.retryDelayMs, BROKER_DEFAULTS.retryDelayMs),
      maxDeliveries: positive('maxDeliveries', options.maxDeliveries, BROKER_DEFAULTS.maxDeliveries),
      pruneIdleMs: positive('pruneIdleMs', options.pruneIdleMs, Math.max(60_000, claimIdleMs * 2, blockMs * 5)),
      connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, BROKER_DEFAULTS.connectTimeoutMs),
      logger: this.logger,
    };
    this.publishTimeoutMs = positive('publishTimeoutMs', options.publishTimeoutMs, BROKER_DEFAULTS.publishTimeoutMs);
    this.cmd = openConnection(this.address, 'phobos-broker', this.logger);
    this.fanout = new FanoutHub(this.address, this.settings.connectTimeoutMs, this.logger);
  }

  /** Waits for the first connection (503 if the server does not answer in time); later calls return at once. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new RpcError(ID, 503, 'redis broker is closed'));
    if (!this.connecting) {
      this.connecting = whenReady(this.cmd, this.settings.connectTimeoutMs, ID);
      this.connecting.catch(() => (this.connecting = undefined)); // the next call tries again
    }
    return this.connecting;
  }

  /** Fails at once with 503 while the server is unreachable (no offline queue), and with 408 past the deadline. */
  async publish(event: Event, options: PublishOptions = {}): Promise<void> {
    const ms = options.timeout ?? this.publishTimeoutMs;
    const stream = this.streamKey(event.topic);
    try {
      await withDeadline(this.connect(), ms, ID, 'redis connect');
      await withDeadline(PUBLISH.run(this.cmd, [stream], [stream, encodeEvent(event), this.settings.maxLen]), ms, ID, `redis publish to ${event.topic}`);
    } catch (err) {
      throw toRpcError(err, ID, `redis publish to ${event.topic}`);
    }
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    await this.connect();
    const { queue, durable } = options;
    if (!queue) {
      const remove = await this.fanout.add(this.streamKey(topic), topic, handler);
      return this.subscription(topic, undefined, remove);
    }
    const consumer = new StreamConsumer(this.cmd, handler, {
      ...this.settings,
      stream: this.streamKey(topic),
      deadLetter: `${this.prefix}:dead:${topic}`,
      group: queue,
      topic,
      durable: durable === true,
    });
    try {
      await consumer.start();
    } catch (err) {
      await consumer.stop();
      throw toRpcError(err, ID, `redis subscribe to ${topic} (queue ${queue})`);
    }
    return this.subscription(topic, queue, () => consumer.stop());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.unsubscribers].map((u) => u()));
    await this.fanout.close();
    hangUp(this.cmd);
  }

  private streamKey(topic: string): string {
    return `${this.prefix}:events:${topic}`;
  }

  private subscription(topic: string, queue: string | undefined, remove: () => Promise<void>): Subscription {
    let done: Promise<void> | undefined;
    const unsubscribe = () => {
      this.unsubscribers.delete(unsubscribe);
      return (done ??= remove());
    };
    this.unsubscribers.add(unsubscribe);
    return { topic, queue, unsubscribe };
  }
}
