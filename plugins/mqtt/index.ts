import type { Logger } from '../../lib/observe/logger';
import { MqttBroker } from './broker';
import type { MqttBrokerOptions } from './options';

/**
 * The `mqtt` broker plugin (`--broker=mqtt --broker_address=mqtt://127.0.0.1:1883`): MQTT 5 over mqtt.js, QoS 1,
 * queue groups as shared subscriptions. See broker.ts, publisher.ts and subscription.ts.
 */
export { MqttBroker } from './broker';
export type { MqttBrokerOptions } from './options';

export function createBroker(options: MqttBrokerOptions = {}): MqttBroker {
  return new MqttBroker(options);
}

/**
 * The catalog's entry point (lib/plugins.ts loads `plugins/mqtt` and calls `brokerPlugin(ctx)`), typed structurally
 * so this file does not depend on the catalog's module. `--broker_address` is the URL (comma-separated for
 * failover); the publish timeout defaults to --client_request_timeout; other options come from
 * `createService({ plugins: { mqtt: {...} } })`.
 */
export function brokerPlugin(ctx: {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { brokerAddress?: string; clientRequestTimeout?: number };
}): MqttBroker {
  return new MqttBroker({
    url: ctx.config?.brokerAddress || undefined,
    timeout: ctx.config?.clientRequestTimeout,
    logger: ctx.logger,
    ...(ctx.options as MqttBrokerOptions | undefined),
  });
}
