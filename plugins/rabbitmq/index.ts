import type { Logger } from '../../lib/observe/logger';
import { RabbitBroker } from './broker';
import type { RabbitBrokerOptions } from './options';

/**
 * The `rabbitmq` broker plugin (`--broker=rabbitmq --broker_address=amqp://guest:guest@127.0.0.1:5672`): a topic
 * exchange, a durable queue per queue group, an exclusive queue per fan-out subscriber, publisher confirms, acks
 * after the handler, counted retries and a dead-letter queue. See broker.ts and docs/plugins.md.
 */
export { RabbitBroker } from './broker';
export type { RabbitBrokerOptions } from './options';
export { groupQueueName, deadLetterQueueName, deadLetterExchangeName, DELIVERIES_HEADER, TOPIC_HEADER } from './topology';

/** The catalog's entry point; typed structurally so this plugin does not depend on lib/plugins.ts. */
export function brokerPlugin(ctx: {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { brokerAddress?: string; clientRequestTimeout?: number };
}): RabbitBroker {
  return new RabbitBroker({
    url: ctx.config?.brokerAddress || undefined,
    publishTimeout: ctx.config?.clientRequestTimeout,
    logger: ctx.logger,
    ...(ctx.options as RabbitBrokerOptions | undefined),
  });
}
