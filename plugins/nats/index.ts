import type { Logger } from '../../lib/observe/logger';
import { NatsBroker, type NatsBrokerOptions } from './broker';
import { NatsRegistry, type NatsRegistryOptions } from './registry';
import { NatsTransport, type NatsTransportOptions } from './transport';

/**
 * The NATS plugins: `--transport=nats`, `--broker=nats`, `--registry=nats`. Each part opens a connection of its own
 * to the servers its `--*_address` flag names (default 127.0.0.1:4222), on first use. Options come from
 * `createService({ plugins: { nats: {...} } })` and apply to all three parts (each ignores what is not its own).
 */
export { NatsBroker, type NatsBrokerOptions } from './broker';
export { NatsRegistry, type NatsRegistryOptions } from './registry';
export { NatsTransport, type NatsTransportOptions } from './transport';
export type { DurableOptions } from './durable';

/** What the catalog passes (lib/plugins.ts PluginContext), typed structurally: plugins never import the catalog. */
interface Context {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: {
    registryAddress?: string;
    brokerAddress?: string;
    transportAddress?: string;
    registerTtl?: number;
    clientRequestTimeout?: number;
  };
}

export function transportPlugin(ctx: Context): NatsTransport {
  return new NatsTransport({ address: ctx.config?.transportAddress, logger: ctx.logger, ...(ctx.options as NatsTransportOptions | undefined) });
}

export function brokerPlugin(ctx: Context): NatsBroker {
  return new NatsBroker({
    address: ctx.config?.brokerAddress,
    publishTimeout: ctx.config?.clientRequestTimeout,
    logger: ctx.logger,
    ...(ctx.options as NatsBrokerOptions | undefined),
  });
}

export function registryPlugin(ctx: Context): NatsRegistry {
  return new NatsRegistry({
    address: ctx.config?.registryAddress,
    ttl: ctx.config?.registerTtl,
    logger: ctx.logger,
    ...(ctx.options as NatsRegistryOptions | undefined),
  });
}
