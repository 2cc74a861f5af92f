import type { ConfirmChannel, Options } from 'amqplib';
import { errors } from '../../lib/errors';

export const ERROR_ID = 'phobos.broker.rabbitmq';

/**
 * Publishes on a confirm channel and settles on the node's answer: resolves on its ack, 503 on a nack or when the
 * channel closes first (connection lost), 408 when no answer comes within `timeoutMs`. A late confirm after the
 * timeout is ignored: the caller was already told, and at-least-once delivery makes a resend harmless.
 */
export function confirmPublish(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  properties: Options.Publish,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => settle(errors.timeout(ERROR_ID, `rabbitmq did not confirm the publish to "${routingKey}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      channel.publish(exchange, routingKey, content, properties, (err: Error | null) => {
        if (!err) return settle();
        const lost = /closed/i.test(err.message);
        settle(errors.unavailable(ERROR_ID, lost ? `rabbitmq connection lost before "${routingKey}" was confirmed` : `rabbitmq refused the publish to "${routingKey}" (nack)`));
      });
    } catch (err) {
      // amqplib throws at once on a channel that is already closed.
      settle(errors.unavailable(ERROR_ID, `rabbitmq publish failed: ${(err as Error).message}`));
    }
  });
}
