import type { Channel, ConsumeMessage } from 'amqplib';
import type { Event, EventHandler, Subscription } from '../../lib/broker/broker';
import { decodeEvent } from '../../lib/broker/envelope';
import type { Logger } from '../../lib/observe/logger';
import type { Session } from './connection';
import type { ResolvedOptions } from './options';
import { confirmPublish } from './publisher';
import { CONTENT_TYPE, declareFanoutQueue, declareGroupQueue, DELIVERIES_HEADER, TOPIC_HEADER, type QueuePlan } from './topology';

/**
 * One subscription: a channel of its own with a prefetch, a queue (the group's shared one, or its own), a consumer.
 *
 * Attaching is per connection session and serialised, so a subscription has at most one consumer at any time: the
 * reconnect path and subscribe() may both ask for the same session, and the second ask finds it attached already.
 *
 * Deliveries run concurrently (up to the prefetch) and are acked only after the handler resolved. A failed handler
 * is retried by republishing a copy straight to the queue with the attempt count in a header, then acking the
 * original. Why a header rather than nack-and-requeue: a plain requeue carries no count (only the `redelivered`
 * flag), so it would loop for ever; a quorum queue's x-delivery-count would count, but a fan-out subscriber's queue
 * is exclusive and auto-deleted, which quorum queues cannot be. The header works for both kinds of queue, counts
 * handler failures exactly, and sends the retry to the back of the queue instead of straight back to the same
 * handler. What it does not count is a consumer dying in the middle of a handler: RabbitMQ requeues that delivery
 * as it was. After `maxDeliveries` failed attempts a queue group's event is rejected without requeue and the queue's
 * dead-letter exchange moves it to `<queue>.dead`; a fan-out subscriber's is logged and dropped, since its queue,
 * and so any dead-letter queue of its own, ends with it.
 */

export interface ConsumerContext {
  options: ResolvedOptions;
  logger: Logger;
  /** The live session, if any (never throws). */
  liveSession(): Session | undefined;
  /** Called once the subscription has ended, so the broker forgets it. */
  forget(sub: RabbitSubscription): void;
}

export class RabbitSubscription implements Subscription {
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private attachedTo = 0;
  private attaching: Promise<void> = Promise.resolve();
  private ended = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(
    readonly topic: string,
    private readonly handler: EventHandler,
    readonly queue: string | undefined,
    private readonly ctx: ConsumerContext,
  ) {}

  /** Consumes on `session` unless already doing so; resolves once the consumer is live. */
  attach(session: Session): Promise<void> {
    const next = this.attaching.catch(() => undefined).then(() => this.attachOnce(session));
    this.attaching = next;
    return next;
  }

  async unsubscribe(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.retryTimer);
    await this.attaching.catch(() => undefined);
    const ch = this.channel;
    this.channel = undefined;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    // Handlers already running may still ack on the open channel; whatever is left unacked goes back to the queue.
    await drain(this.running, this.ctx.options.drainTimeout);
    if (ch) await ch.close().catch(() => undefined);
    this.ctx.forget(this);
  }

  private async attachOnce(session: Session): Promise<void> {
    if (this.ended || this.attachedTo === session.id || this.ctx.liveSession() !== session) return;
    const { options, logger } = this.ctx;
    const ch = await session.connection.createChannel();
    try {
      ch.on('error', (err: Error) => logger.warn({ topic: this.topic, queue: this.queue, err: err.message }, 'rabbitmq: subscription channel error'));
      await ch.prefetch(options.prefetch);
      const plan = this.queue
        ? await declareGroupQueue(ch, options.exchange, this.queue, this.topic, options.queueExpires)
        : await declareFanoutQueue(ch, options.exchange, this.topic);
      const { consumerTag } = await ch.consume(plan.queue, (msg) => this.onDelivery(ch, plan, msg), { noAck: false });
      ch.on('close', () => this.channelClosed(ch, session));
      this.channel = ch;
      this.consumerTag = consumerTag;
      this.attachedTo = session.id;
      logger.info({ topic: this.topic, queue: plan.queue, session: session.id }, 'rabbitmq: consuming');
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The channel closed under a live subscription. If the whole connection went, the broker re-attaches everything to
   * the next session; if only this channel did (a channel error, the queue deleted), come back on the same session.
   */
  private channelClosed(ch: Channel, session: Session): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    this.attachedTo = 0;
    if (this.ended) return;
    this.retryAttach(session);
  }

  /**
   * Attaches again to `session` after a pause, doubling it per failure, for as long as that session is the live one:
   * a failure that lasts (a queue redeclared with other arguments) costs this subscription, not the connection.
   */
  retryAttach(lost: Session, delay = this.ctx.options.reconnectMinMs): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      const live = this.ctx.liveSession();
      // A new session re-attaches through the broker; only the same one is this subscription's job.
      if (this.ended || live !== lost) return;
      this.ctx.logger.warn({ topic: this.topic, queue: this.queue }, 'rabbitmq: subscription not consuming; attaching again');
      this.attach(live).catch((err: Error) => {
        this.ctx.logger.warn({ topic: this.topic, queue: this.queue, err: err.message }, 'rabbitmq: re-attaching failed');
        this.retryAttach(lost, Math.min(delay * 2, this.ctx.options.reconnectMaxMs));
      });
    }, delay);
  }

  private onDelivery(ch: Channel, plan: QueuePlan, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The server cancelled the consumer (its queue was deleted): close the channel, which brings it back.
      this.ctx.logger.warn({ topic: this.topic, queue: plan.queue }, 'rabbitmq: consumer cancelled by the server');
      ch.close().catch(() => undefined);
      return;
    }
    const done = this.deliver(ch, plan, msg);
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
  }

  private async deliver(ch: Channel, plan: QueuePlan, msg: ConsumeMessage): Promise<void> {
    const headers = msg.properties.headers ?? {};
    const topicHeader: unknown = headers[TOPIC_HEADER];
    const topic = typeof topicHeader === 'string' ? topicHeader : msg.fields.routingKey;
    let event: Event;
    try {
      event = decodeEvent(topic, msg.content);
    } catch (err) {
      this.ctx.logger.warn({ topic, queue: plan.queue, err: (err as Error).message }, 'rabbitmq: malformed event dropped');
      settle(() => ch.ack(msg));
      return;
    }
    try {
      await this.handler(event);
      settle(() => ch.ack(msg));
    } catch (err) {
      const attempts = (Number(headers[DELIVERIES_HEADER]) || 0) + 1;
      await this.failed(ch, plan, msg, topic, attempts, err as Error);
    }
  }

  private async failed(ch: Channel, plan: QueuePlan, msg: ConsumeMessage, topic: string, attempts: number, err: Error): Promise<void> {
    const { logger, options } = this.ctx;
    const where = { topic, queue: plan.queue, attempts, err: err.message };
    if (attempts >= options.maxDeliveries) {
      if (plan.deadLetterQueue) {
        logger.warn({ ...where, deadLetterQueue: plan.deadLetterQueue }, 'rabbitmq: event handler kept failing; event dead-lettered');
        settle(() => ch.nack(msg, false, false));
      } else {
        logger.error(where, 'rabbitmq: event handler kept failing; event dropped (a fan-out subscriber has no dead-letter queue)');
        settle(() => ch.ack(msg));
      }
      return;
    }
    logger.debug(where, 'rabbitmq: event handler failed; retrying');
    const session = this.ctx.liveSession();
    try {
      if (!session) throw new Error('not connected');
      const headers = { ...msg.properties.headers, [DELIVERIES_HEADER]: attempts, [TOPIC_HEADER]: topic };
      // Straight to the queue through the default exchange: only this queue gets the retry, not every subscriber.
      await confirmPublish(session.publisher, '', plan.queue, msg.content, { persistent: true, contentType: CONTENT_TYPE, headers }, options.publishTimeout);
      settle(() => ch.ack(msg));
    } catch {
      // The copy did not make it: give the original back (uncounted) rather than lose it.
      settle(() => ch.nack(msg, false, true));
    }
  }
}

/** ack/nack on a channel that has closed meanwhile throws; the node has requeued that delivery already. */
function settle(fn: () => void): void {
  try {
    fn();
  } catch {
    /* channel gone: the delivery is back in its queue */
  }
}

async function drain(running: Set<Promise<void>>, ms: number): Promise<void> {
  if (running.size === 0 || ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...running]),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
