import type { Logger } from '../../lib/observe/logger';
import { MdnsRegistry } from './registry';
import type { MdnsRegistryOptions } from './options';

/**
 * The `mdns` registry plugin, Phobos' zero-config default: nodes find each other by multicast DNS, loopback-only
 * unless an interface is named. See registry.ts for the behaviour and socket.ts for the loopback findings.
 */
export { MdnsRegistry } from './registry';
export type { MdnsRegistryOptions } from './options';

export function createRegistry(options: MdnsRegistryOptions = {}): MdnsRegistry {
  return new MdnsRegistry(options);
}

/**
 * The catalog's entry point (lib/plugins.ts loads `plugins/mdns` and calls `plugin(ctx)` for `--registry=mdns`).
 * Typed structurally so this file does not depend on the catalog's module. `--registry_address` names the
 * interface: mDNS has no server address, and naming where to announce is the one address it can use.
 */
export function plugin(ctx: {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { registryAddress?: string; registerTtl?: number };
}): MdnsRegistry {
  return new MdnsRegistry({
    interface: ctx.config?.registryAddress || undefined,
    ttl: ctx.config?.registerTtl,
    logger: ctx.logger,
    ...(ctx.options as MdnsRegistryOptions | undefined),
  });
}
