import { randomBytes } from 'node:crypto';
import type { Channel } from 'amqplib';

/**
 * The names and declarations the broker maps Phobos onto (docs/plugins.md, "rabbitmq"):
 *
 *   <exchange>                      topic exchange, durable; routing key = the event's topic
 *   <exchange>.<queue>.<topic>      a queue group's queue: durable, shared by the group's members, bound to the topic
 *   <that>.dead                     where the group's given-up events go, through the dead-letter exchange
 *   <exchange>.dead                 the dead-letter exchange (direct; routing key = the dead-letter queue's name)
 *   <exchange>.<topic>.<random>     a fan-out subscriber's own queue: exclusive, auto-deleted with its consumer
 *
 * Declarations are idempotent, so every member (and every reconnect) declares everything it uses.
 */

/** Handler attempts so far, kept on the copy the broker republishes after a failure (see consumer.ts for why). */
export const DELIVERIES_HEADER = 'x-phobos-deliveries';
/** The event's topic on such a copy: it is republished straight to its queue, so its routing key is the queue name. */
export const TOPIC_HEADER = 'x-phobos-topic';
/** Marks the body as the Phobos event envelope (lib/broker/envelope.ts). */
export const CONTENT_TYPE = 'application/vnd.phobos.event';

export interface QueuePlan {
  /** The queue to consume. */
  queue: string;
  /** Its dead-letter queue; only queue groups have one. */
  deadLetterQueue?: string;
}

export const groupQueueName = (exchange: string, queue: string, topic: string): string => `${exchange}.${queue}.${topic}`;
export const deadLetterExchangeName = (exchange: string): string => `${exchange}.dead`;
export const deadLetterQueueName = (queue: string): string => `${queue}.dead`;

export async function declareExchange(ch: Channel, exchange: string): Promise<void> {
  await ch.assertExchange(exchange, 'topic', { durable: true });
}

/**
 * A queue group's queue and its dead-letter queue. Durable, not auto-deleted: events keep arriving while every
 * member is away (restarting, crashed) and wait for the next one.
 */
export async function declareGroupQueue(ch: Channel, exchange: string, group: string, topic: string, expires?: number): Promise<QueuePlan> {
  const queue = groupQueueName(exchange, group, topic);
  const deadLetterQueue = deadLetterQueueName(queue);
  const dlx = deadLetterExchangeName(exchange);
  await declareExchange(ch, exchange);
  await ch.assertExchange(dlx, 'direct', { durable: true });
  const expiry = expires ? { 'x-expires': expires } : {};
  await ch.assertQueue(deadLetterQueue, { durable: true, arguments: expiry });
  await ch.bindQueue(deadLetterQueue, dlx, deadLetterQueue);
  await ch.assertQueue(queue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': deadLetterQueue, ...expiry },
  });
  await ch.bindQueue(queue, exchange, topic);
  return { queue, deadLetterQueue };
}

/**
 * A subscriber without a queue gets every event through a queue of its own, which lives exactly as long as its
 * consumer: exclusive (this connection only) and auto-deleted, so nothing piles up for a subscriber that left.
 */
export async function declareFanoutQueue(ch: Channel, exchange: string, topic: string): Promise<QueuePlan> {
  const queue = `${exchange}.${topic}.${randomBytes(6).toString('hex')}`;
  await declareExchange(ch, exchange);
  await ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, exchange, topic);
  return { queue };
}
