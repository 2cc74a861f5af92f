import type { Logger } from '../../lib/observe/logger';
import { EtcdRegistry } from './registry';
import type { EtcdRegistryOptions } from './options';

/**
 * The `etcd` registry plugin (`--registry=etcd --registry_address=127.0.0.1:2379`): nodes as keys under a base path,
 * leases for TTLs, a prefix watch feeding a local view. See registry.ts, leases.ts and view.ts.
 */
export { EtcdRegistry } from './registry';
export type { EtcdRegistryOptions } from './options';

export function createRegistry(options: EtcdRegistryOptions = {}): EtcdRegistry {
  return new EtcdRegistry(options);
}

/**
 * The catalog's entry point (lib/plugins.ts loads `plugins/etcd` and calls `registryPlugin(ctx)`), typed
 * structurally so this file does not depend on the catalog's module. Plugin options (`prefix`, `timeout`, `hosts`)
 * come from `createService({ plugins: { etcd: {...} } })`; `--registry_address` (comma-separated) names the hosts.
 */
export function registryPlugin(ctx: {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { registryAddress?: string; registerTtl?: number };
}): EtcdRegistry {
  return new EtcdRegistry({
    hosts: ctx.config?.registryAddress || undefined,
    ttl: ctx.config?.registerTtl,
    logger: ctx.logger,
    ...(ctx.options as EtcdRegistryOptions | undefined),
  });
}
