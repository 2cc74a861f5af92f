import type { Msg, Subscription as NatsSubscription } from '@nats-io/transport-node';
import type { Broker, Event, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../../lib/broker/broker';
import { decodeEvent, encodeEvent, ENVELOPE_ERROR_ID } from '../../lib/broker/envelope';
import { RpcError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { NatsConnector, type NatsConnectionOptions } from './connection';
import { type DurableOptions, JetStreamSide } from './durable';

/**
 * `--broker=nats`: a topic is a NATS subject. Subscribers without a queue each get every event (plain
 * subscriptions); a queue group is a NATS queue subscription, so the server hands each event to one member. Events
 * travel in the shared envelope (lib/broker/envelope.ts). `durable: true` moves a subscription onto JetStream
 * (durable.ts); a publish to a topic a stream covers waits for JetStream's acknowledgement, so it has landed.
 */

export type NatsBrokerOptions = Omit<NatsConnectionOptions, 'logger'> & {
  /** Default publish deadline (ms) when the caller gives none. Default 5000. */
  publishTimeout?: number;
  durable?: DurableOptions;
  logger?: Logger;
};

export class NatsBroker implements Broker {
  readonly name = 'nats';
  private readonly conn: NatsConnector;
  private readonly logger: Logger;
  private readonly subscriptions = new Set<Subscription>();
  private jetStream: JetStreamSide | undefined;

  constructor(private readonly options: NatsBrokerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.conn = new NatsConnector({ name: 'phobos-broker', ...options, logger: this.logger });
  }

  async connect(): Promise<void> {
    await this.conn.get();
  }

  async publish(event: Event, options: PublishOptions = {}): Promise<void> {
    await this.conn.get();
    const nc = this.conn.requireConnected();
    const timeout = options.timeout ?? this.options.publishTimeout ?? 5000;
    const bytes = encodeEvent(event);
    if (bytes.length > this.conn.maxPayload) {
      throw new RpcError(ENVELOPE_ERROR_ID, 413, `event of ${bytes.length} bytes exceeds NATS max_payload (${this.conn.maxPayload})`);
    }
    const what = `publish to ${event.topic}`;
    let stream: string | undefined;
    try {
      stream = await this.conn.guard(this.js().streamFor(event.topic), timeout, what, ENVELOPE_ERROR_ID);
    } catch (err) {
      // A server without JetStream still carries plain events; an outage or a deadline is the caller's to hear.
      if (err instanceof RpcError) throw err;
    }
    if (stream) {
      const js = await this.js().client();
      await this.conn.guard(
        js.publish(event.topic, bytes, { timeout }).catch((err: Error) => {
          throw new RpcError(ENVELOPE_ERROR_ID, /timeout/i.test(err.message) ? 408 : 503, `${what}: JetStream did not store it: ${err.message}`);
        }),
        timeout,
        what,
        ENVELOPE_ERROR_ID,
      );
      return;
    }
    nc.publish(event.topic, bytes);
    // The flush's round trip means the server has taken the event (and routed it to the subscribers it has).
    await this.conn.guard(nc.flush(), timeout, what, ENVELOPE_ERROR_ID);
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    await this.conn.get();
    const sub = options.durable ? await this.js().subscribe(topic, options.queue, handler) : await this.plain(topic, handler, options.queue);
    this.subscriptions.add(sub);
    return {
      topic,
      queue: options.queue,
      unsubscribe: async () => {
        this.subscriptions.delete(sub);
        await sub.unsubscribe();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe().catch(() => undefined)));
    this.subscriptions.clear();
    await this.conn.close();
  }

  private js(): JetStreamSide {
    if (!this.jetStream) {
      // Only after connect: the manager's first request needs the connection.
      const nc = this.conn.requireConnected();
      this.jetStream = new JetStreamSide(nc, this.options.durable ?? {}, this.logger);
    }
    return this.jetStream;
  }

  /**
   * A core subscription. Events are handled one at a time in arrival order (NATS keeps the order per subscription);
   * a failing handler is logged and the next event goes on. Resolves once the server has the subscription.
   */
  private async plain(topic: string, handler: EventHandler, queue: string | undefined): Promise<Subscription> {
    const nc = this.conn.requireConnected();
    let chain = Promise.resolve();
    const run = (msg: Msg) => {
      let event: Event;
      try {
        event = decodeEvent(msg.subject, msg.data);
      } catch (err) {
        this.logger.warn({ topic: msg.subject, err: (err as Error).message }, 'dropped a malformed event envelope');
        return;
      }
      chain = chain.then(async () => {
        try {
          await handler(event);
        } catch (err) {
          this.logger.warn({ topic: msg.subject, err }, 'event handler failed (not redelivered: the subscription is not durable)');
        }
      });
    };
    const sub: NatsSubscription = nc.subscribe(topic, { queue, callback: (err, msg) => (err ? undefined : run(msg)) });
    await this.conn.guard(nc.flush(), 5000, `subscribe to ${topic}`, ENVELOPE_ERROR_ID);
    return {
      topic,
      queue,
      unsubscribe: async () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }
}
