import { RabbitBroker } from '../../../plugins/rabbitmq';
import { brokerConformance } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';

/**
 * The RabbitMQ broker on the shared node against the same suite as every other broker; it keeps events, so it
 * redelivers. The suite's queue groups are durable queues: x-expires removes them a minute after the run.
 */

describeEngine('rabbitmq', 'rabbitmq broker conformance', () => {
  brokerConformance({
    make: async () => {
      const broker = new RabbitBroker({ url: ENGINE_ADDRESSES.rabbitmq, queueExpires: 60_000 });
      await broker.connect();
      return broker;
    },
    redelivers: true,
    deliveryMs: 5000,
  });
});
