import { randomBytes } from 'node:crypto';
import type { Broker, Event, EventHandler, PublishOptions, Subscription, SubscribeOptions } from '../../lib/broker/broker';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { MqttConnection, type ConnectionOptions } from './connection';
import {
  checkFilter,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_S,
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_RECONNECT_MIN_MS,
  DEFAULT_TIMEOUT_MS,
  urlsOf,
  type MqttBrokerOptions,
} from './options';
import { Publisher } from './publisher';
import { MqttSubscription } from './subscription';

/**
 * The mqtt broker (MQTT 5, mqtt.js): QoS 1 both ways, queue groups as shared subscriptions, clean sessions. One
 * connection publishes (made on connect() or the first publish); each subscription has a connection of its own
 * (subscription.ts says why). Events travel in the shared envelope (lib/broker/envelope.ts) as the message payload.
 *
 * Clean sessions, deliberately: subscriptions come from code and are made again on every connect, and a process that
 * died must not keep a session on the server that goes on collecting its share of a queue group's events. The price:
 * events published while a subscriber is disconnected are not kept for it; `durable` has nothing more to offer here
 * (for events that must survive a consumer's absence, use the rabbitmq or nats broker).
 */
export class MqttBroker implements Broker {
  readonly name = 'mqtt';
  private readonly urls: string[];
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly logger: Logger;
  private readonly idBase: string;
  private readonly subscriptions = new Set<MqttSubscription>();
  private publisher: { connection: MqttConnection; publisher: Publisher } | undefined;
  private subscriptionSeq = 0;
  private closed = false;

  constructor(private readonly options: MqttBrokerOptions = {}) {
    this.urls = urlsOf(options.url);
    this.timeoutMs = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
    this.idBase = `${options.clientIdPrefix ?? 'phobos'}-${randomBytes(5).toString('hex')}`;
  }

  /** Opens the publishing connection; fails with 503 when the server does not answer. Idempotent. */
  async connect(): Promise<void> {
    await this.publishing().connection.ready(this.connectTimeoutMs);
  }

  async publish(event: Event, options: PublishOptions = {}): Promise<void> {
    const { connection, publisher } = this.publishing();
    // Only the very first publish waits for the connection; afterwards a lost one fails fast inside publish().
    if (!connection.connected) await connection.ready(this.connectTimeoutMs);
    await publisher.publish(event, options.timeout ?? this.timeoutMs);
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertOpen();
    const filter = checkFilter(topic, options.queue);
    const sub = new MqttSubscription(
      topic,
      options.queue,
      filter,
      handler,
      this.connectionOptions(`${this.idBase}-sub${++this.subscriptionSeq}`),
      this.connectTimeoutMs,
      this.logger,
      (s) => this.subscriptions.delete(s),
    );
    this.subscriptions.add(sub);
    await sub.start();
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.end()));
    await this.publisher?.connection.end();
  }

  private publishing(): { connection: MqttConnection; publisher: Publisher } {
    this.assertOpen();
    if (!this.publisher) {
      const connection = new MqttConnection(this.connectionOptions(`${this.idBase}-pub`));
      this.publisher = { connection, publisher: new Publisher(connection) };
    }
    return this.publisher;
  }

  private connectionOptions(clientId: string): Omit<ConnectionOptions, 'onMessage' | 'onConnect'> {
    return {
      urls: this.urls,
      clientId,
      connectTimeout: this.connectTimeoutMs,
      reconnectMin: this.options.reconnectMin ?? DEFAULT_RECONNECT_MIN_MS,
      reconnectMax: this.options.reconnectMax ?? DEFAULT_RECONNECT_MAX_MS,
      keepalive: this.options.keepalive ?? DEFAULT_KEEPALIVE_S,
      username: this.options.username,
      password: this.options.password,
      logger: this.logger,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('mqtt broker is closed');
  }
}
