import type { Broker, Event, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../../lib/broker/broker';
import { encodeEvent } from '../../lib/broker/envelope';
import { errors } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { AmqpConnection, type Session } from './connection';
import { RabbitSubscription } from './consumer';
import { resolveOptions, type RabbitBrokerOptions, type ResolvedOptions } from './options';
import { confirmPublish, ERROR_ID } from './publisher';
import { CONTENT_TYPE } from './topology';

/**
 * The RabbitMQ broker: events go to a topic exchange with the topic as routing key (topology.ts), subscriptions
 * consume from queues bound to it (consumer.ts), one self-healing connection carries both (connection.ts).
 *
 * Outages: publish() and subscribe() never wait for a reconnect; while the connection is down they fail with 503 at
 * once. Subscriptions made before the outage come back by themselves when the connection does.
 */
export class RabbitBroker implements Broker {
  readonly name = 'rabbitmq';
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly connection: AmqpConnection;
  private readonly subscriptions = new Set<RabbitSubscription>();
  private closed = false;

  constructor(options: RabbitBrokerOptions = {}) {
    this.options = resolveOptions(options);
    this.logger = options.logger ?? silentLogger;
    this.connection = new AmqpConnection(this.options, this.logger, { up: (session) => this.reattachAll(session) });
  }

  /**
   * Waits for a connection: resolves once there is one, 503 when the dial under way fails (or connectTimeout passes).
   * Reconnecting continues in the background, so a later call can succeed.
   */
  async connect(): Promise<void> {
    if (this.closed) throw errors.unavailable(ERROR_ID, 'rabbitmq broker is closed');
    await this.connection.ready(this.options.connectTimeout);
  }

  async publish(event: Event, options: PublishOptions = {}): Promise<void> {
    const session = await this.sessionForCall();
    await confirmPublish(
      session.publisher,
      this.options.exchange,
      event.topic,
      encodeEvent(event),
      // Persistent: a durable (queue group) queue keeps the event across a node restart; others ignore the flag.
      { persistent: true, contentType: CONTENT_TYPE },
      options.timeout ?? this.options.publishTimeout,
    );
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const session = await this.sessionForCall();
    const sub = new RabbitSubscription(topic, handler, options.queue || undefined, {
      options: this.options,
      logger: this.logger,
      liveSession: () => this.connection.live,
      forget: (s) => this.subscriptions.delete(s),
    });
    // Known before it attaches, so a reconnect in between attaches it too (attach is idempotent per session).
    this.subscriptions.add(sub);
    try {
      await sub.attach(session);
    } catch (err) {
      await sub.unsubscribe();
      throw errors.unavailable(ERROR_ID, `rabbitmq: cannot subscribe to "${topic}": ${(err as Error).message}`);
    }
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe()));
    await this.connection.close();
  }

  /** Before the first connection, wait for it (bounded); after, only a live connection will do: no waiting. */
  private async sessionForCall(): Promise<Session> {
    if (this.closed) throw errors.unavailable(ERROR_ID, 'rabbitmq broker is closed');
    if (this.connection.state === 'idle') return this.connection.ready(this.options.connectTimeout);
    return this.connection.session();
  }

  private reattachAll(session: Session): void {
    for (const sub of this.subscriptions) {
      sub.attach(session).catch((err: Error) => {
        this.logger.warn({ topic: sub.topic, queue: sub.queue, err: err.message }, 'rabbitmq: re-attaching a subscription failed; retrying');
        sub.retryAttach(session);
      });
    }
  }
}
