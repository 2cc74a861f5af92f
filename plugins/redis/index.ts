import type { Logger } from '../../lib/observe/logger';
import { RedisBroker } from './broker';
import type { RedisBrokerOptions, RedisRegistryOptions } from './options';
import { RedisRegistry } from './registry';

/**
 * The redis plugins: `--broker=redis` (pub/sub for fan-out, streams with consumer groups for queue groups) and
 * `--registry=redis` (a key with a TTL per node, changes on a channel). Addresses: `--broker_address` and
 * `--registry_address` (`host:port` or `redis://...`, default 127.0.0.1:6379). The catalog (lib/plugins.ts) loads
 * this module only when a flag names redis; the factories are typed structurally so nothing here imports it.
 */
export { RedisBroker } from './broker';
export { RedisRegistry } from './registry';
export type { RedisBrokerOptions, RedisRegistryOptions } from './options';

interface PluginContext {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { registryAddress?: string; brokerAddress?: string; registerTtl?: number; clientRequestTimeout?: number };
}

export function brokerPlugin(ctx: PluginContext): RedisBroker {
  return new RedisBroker({
    address: ctx.config?.brokerAddress,
    publishTimeoutMs: ctx.config?.clientRequestTimeout,
    connectTimeoutMs: ctx.config?.clientRequestTimeout,
    logger: ctx.logger,
    ...(ctx.options as RedisBrokerOptions | undefined),
  });
}

export function registryPlugin(ctx: PluginContext): RedisRegistry {
  return new RedisRegistry({
    address: ctx.config?.registryAddress,
    ttl: ctx.config?.registerTtl,
    commandTimeoutMs: ctx.config?.clientRequestTimeout,
    connectTimeoutMs: ctx.config?.clientRequestTimeout,
    logger: ctx.logger,
    ...(ctx.options as RedisRegistryOptions | undefined),
  });
}
