import type { Broker } from './broker/broker';
import { MemoryBroker } from './broker/memory';
import { P2PBroker } from './broker/p2p';
import type { Codec } from './codec';
import { JsonCodec, MsgpackCodec } from './codec';
import { ConfigError, type Config } from './flags';
import type { Logger } from './observe/logger';
import type { RegistryCache } from './registry/cache';
import { MemoryRegistry } from './registry/memory';
import type { Registry } from './registry/registry';
import { DefaultSelector, STRATEGIES } from './selector/default';
import type { Selector } from './selector/selector';
import { MemoryTransport } from './transport/memory';
import { TcpTransport } from './transport/tcp';
import type { Transport } from './transport/transport';

/**
 * The catalog: kind -> name -> factory. Built-in parts are listed here; engine plugins live in plugins/<engine> and
 * are required only when a flag names them, so a missing engine package costs nothing until it is asked for, and
 * then fails with a message that says which package to install. An unknown name lists the names available.
 */

export interface PluginKinds {
  registry: Registry;
  transport: Transport;
  broker: Broker;
  codec: Codec;
  selector: Selector;
}
export type PluginKind = keyof PluginKinds;

/** What a factory gets: the resolved config, a logger, its own options, and the parts built before it. */
export interface PluginContext {
  config: Config;
  logger: Logger;
  /** Implementation-specific options from `createService({ plugins: { <name>: {...} } })`. */
  options: Record<string, unknown>;
  /** Set for the parts built after them: registry and cache before selector/broker, transport before broker. */
  registry?: Registry;
  cache?: RegistryCache;
  transport?: Transport;
}

export type PluginFactory<K extends PluginKind> = (ctx: PluginContext) => PluginKinds[K];

export interface PluginDefinition<K extends PluginKind = PluginKind> {
  kind: K;
  name: string;
  /** npm packages the plugin needs; named in the error when one is missing. */
  requires?: string[];
  create?: PluginFactory<K>;
  /** For engine plugins: the module under plugins/ and its export, loaded on first use. */
  module?: string;
  export?: string;
}

const catalog = new Map<PluginKind, Map<string, PluginDefinition>>();

export function registerPlugin<K extends PluginKind>(def: PluginDefinition<K>): void {
  let byName = catalog.get(def.kind);
  if (!byName) catalog.set(def.kind, (byName = new Map()));
  byName.set(def.name, def as unknown as PluginDefinition);
}

export function availablePlugins(kind: PluginKind): string[] {
  return [...(catalog.get(kind)?.keys() ?? [])].sort();
}

/**
 * The factory for a named plugin, loading its module if needed; a ConfigError names what is wrong and what is
 * available. Resolve every part first and build after, so a bad name never leaves a half-built service behind.
 */
export function pluginFactory<K extends PluginKind>(kind: K, name: string): PluginFactory<K> {
  const def = catalog.get(kind)?.get(name) as PluginDefinition<K> | undefined;
  if (!def) throw new ConfigError(`unknown ${kind} "${name}" (available: ${availablePlugins(kind).join(', ')})`);
  return factoryOf(def);
}

function factoryOf<K extends PluginKind>(def: PluginDefinition<K>): PluginFactory<K> {
  if (def.create) return def.create;
  let mod: Record<string, unknown>;
  try {
    mod = require(`../plugins/${def.module}`);
  } catch (err) {
    const missing = /Cannot find module '([^']+)'/.exec((err as Error).message)?.[1];
    if (missing && def.requires?.some((p) => missing === p || missing.startsWith(`${p}/`))) {
      throw new ConfigError(`${def.kind} "${def.name}" needs the npm package "${missing}": npm install ${def.requires.join(' ')}`);
    }
    throw err;
  }
  const factory = mod[def.export ?? 'plugin'];
  if (typeof factory !== 'function') throw new ConfigError(`plugins/${def.module} does not export ${def.export ?? 'plugin'}()`);
  def.create = factory as PluginFactory<K>;
  return def.create;
}

// ---- built-ins -------------------------------------------------------------------------------------------------

registerPlugin({ kind: 'registry', name: 'memory', create: (ctx) => new MemoryRegistry(ctx.options) });
registerPlugin({ kind: 'registry', name: 'mdns', module: 'mdns', export: 'plugin', requires: ['multicast-dns'] });

registerPlugin({ kind: 'transport', name: 'tcp', create: (ctx) => new TcpTransport({ logger: ctx.logger, ...ctx.options }) });
registerPlugin({ kind: 'transport', name: 'memory', create: () => new MemoryTransport() });

registerPlugin({ kind: 'broker', name: 'memory', create: (ctx) => new MemoryBroker({ logger: ctx.logger, ...ctx.options }) });
registerPlugin({
  kind: 'broker',
  name: 'p2p',
  create: (ctx) =>
    new P2PBroker({
      cache: ctx.cache!,
      transport: ctx.transport!,
      address: ctx.config.brokerAddress,
      ttl: ctx.config.registerTtl,
      interval: ctx.config.registerInterval,
      timeout: ctx.config.clientRequestTimeout,
      logger: ctx.logger,
      ...ctx.options,
    }),
});

// ---- engines: plugins/<engine>, each loaded only when a flag names it ----------------------------------------------

const NATS = ['@nats-io/transport-node', '@nats-io/jetstream'];
registerPlugin({ kind: 'registry', name: 'etcd', module: 'etcd', export: 'registryPlugin', requires: ['etcd3'] });
registerPlugin({ kind: 'registry', name: 'nats', module: 'nats', export: 'registryPlugin', requires: NATS });
registerPlugin({ kind: 'registry', name: 'redis', module: 'redis', export: 'registryPlugin', requires: ['ioredis'] });
registerPlugin({ kind: 'transport', name: 'nats', module: 'nats', export: 'transportPlugin', requires: NATS });
registerPlugin({ kind: 'broker', name: 'nats', module: 'nats', export: 'brokerPlugin', requires: NATS });
registerPlugin({ kind: 'broker', name: 'rabbitmq', module: 'rabbitmq', export: 'brokerPlugin', requires: ['amqplib'] });
registerPlugin({ kind: 'broker', name: 'redis', module: 'redis', export: 'brokerPlugin', requires: ['ioredis'] });
registerPlugin({ kind: 'broker', name: 'mqtt', module: 'mqtt', export: 'brokerPlugin', requires: ['mqtt'] });
registerPlugin({ kind: 'transport', name: 'grpc', module: 'grpc', export: 'transportPlugin', requires: ['@grpc/grpc-js', 'protobufjs'] });
registerPlugin({ kind: 'codec', name: 'protobuf', module: 'protobuf', export: 'codecPlugin', requires: ['protobufjs'] });

registerPlugin({ kind: 'codec', name: 'msgpack', create: () => new MsgpackCodec() });
registerPlugin({ kind: 'codec', name: 'json', create: () => new JsonCodec() });

// One selector plugin per strategy (--selector=weighted ...); options (coolDown, breaker, now) come from the plugin options.
for (const strategy of Object.keys(STRATEGIES)) {
  registerPlugin({
    kind: 'selector',
    name: strategy,
    create: (ctx) => new DefaultSelector({ cache: ctx.cache!, strategy, logger: ctx.logger, ...ctx.options }),
  });
}
