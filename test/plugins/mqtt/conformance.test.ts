import { createBroker } from '../../../plugins/mqtt';
import { brokerConformance } from '../../conformance/broker';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';

/**
 * The mqtt broker against the shared conformance suite, on the shared mosquitto. `redelivers: false`: MQTT has no
 * negative acknowledgement and sessions are clean, so a rejected event is logged and gone.
 */
describeEngine('mqtt', 'mqtt broker', () => {
  brokerConformance({
    make: async () => {
      const broker = createBroker({ url: ENGINE_ADDRESSES.mqtt });
      await broker.connect();
      return broker;
    },
    redelivers: false,
    deliveryMs: 5000,
  });
});
