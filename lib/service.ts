import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Broker, Subscription } from './broker/broker';
import { Client } from './client/client';
import type { CallWrapper, FailMode } from './client/types';
import { CodecTable } from './codec';
import { RequestContext } from './context';
import { describe } from './decorators';
import { ConfigError, FLAGS, resolveConfig, type Config } from './flags';
import { createLogger, type Logger } from './observe/logger';
import type { MetricsOptions, ServiceMetrics } from './observe/metrics';
import { metricsListenAddress, serveMetrics, type MetricsEndpoint } from './observe/metrics-server';
import { pluginFactory, type PluginContext, type PluginFactory, type PluginKind, type PluginKinds } from './plugins';
import { RegistryCache } from './registry/cache';
import type { Registry, ServiceRecord } from './registry/registry';
import type { BreakerOptions } from './selector/breaker';
import type { BulkheadOptions } from './server/bulkhead';
import { compileEndpoint, compileSubscriber, type CompiledEndpoint, type CompileOptions, type HandlerWrapper } from './server/endpoint';
import { Server } from './server/server';
import type { SelectedNode, Selector } from './selector/selector';
import type { Listener, Transport } from './transport/transport';

/**
 * A Service composes the five parts chosen by flags, env or code (in that order of precedence), serves the handlers
 * given to `handle`, and owns the lifecycle: start = listen, subscribe, register, renew; stop = deregister first
 * (so callers stop choosing us), then drain in-flight work, then close everything. `run()` adds signal handling.
 */

type Part<K extends PluginKind> = string | PluginKinds[K];

export interface ServiceOptions extends Partial<Omit<Config, 'registry' | 'transport' | 'broker' | 'selector'>> {
  name: string;
  version?: string;
  metadata?: Record<string, string>;
  registry?: Part<'registry'>;
  transport?: Part<'transport'>;
  broker?: Part<'broker'>;
  selector?: Part<'selector'>;
  /** Server handler wrappers, composed once around every endpoint and subscriber (outermost first). */
  wrappers?: HandlerWrapper[];
  /** Client call wrappers, composed once; they run for every attempt and see the chosen node (outermost first). */
  callWrappers?: CallWrapper[];
  /** The client's default fail mode (failover). */
  failMode?: FailMode;
  /** The client's default failbackup delay in ms (10). */
  backupDelay?: number;
  /** Circuit breaker settings for the default selector; `false` turns breakers off. */
  breaker?: BreakerOptions | false;
  /** A bulkhead for every endpoint that declares none: concurrent requests and queue length; overflow is 429. */
  bulkhead?: BulkheadOptions;
  /** Calls to services this process serves skip transport and codec (default true). */
  preferLocal?: boolean;
  /**
   * Handlers run inside AsyncLocalStorage, so calls they make inherit metadata and deadline by themselves (default
   * true). `false` saves Node 20's per-promise async-hook cost; nested calls then pass `ctx.metadata` and
   * `ctx.remaining()` on explicitly.
   */
  propagateContext?: boolean;
  /** How long stop() waits for in-flight requests, in ms (default 10 s). */
  drainTimeout?: number;
  /** Include stack traces in 500 errors. */
  dev?: boolean;
  /**
   * Collect Prometheus metrics (a Registry of this service's own, `service.metrics`) even without --metrics_address,
   * e.g. for an HTTP gateway to serve. --metrics_address turns them on by itself and serves /metrics there.
   */
  metrics?: boolean | MetricsOptions;
  /** Key names whose values logs must never show, on top of Authorization, cookies, passwords, tokens, secrets... */
  sensitive?: string[];
  /** pino redact paths for secrets whose key alone does not say it (`user.address`, `cards[*].number`). */
  redact?: string[];
  /** Per-plugin options, by plugin name: `{ mdns: { interface: '192.168.1.4' } }`. */
  plugins?: Record<string, Record<string, unknown>>;
  /** Flags to read (default process.argv) and environment (default process.env). */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** On a bad flag or plugin name, print one line and exit 1 (default) instead of throwing. */
  exitOnConfigError?: boolean;
}

export type ServiceState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

export type LifecycleEvent = 'beforeStart' | 'afterStart' | 'beforeStop' | 'afterStop';
type Hook = (service: PhobosService) => void | Promise<void>;

export class PhobosService {
  readonly name: string;
  readonly version: string;
  readonly config: Config;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly registry: Registry;
  readonly cache: RegistryCache;
  readonly selector: Selector;
  readonly transport: Transport;
  readonly broker: Broker;
  readonly codecs: CodecTable;
  readonly server: Server;
  readonly client: Client;
  /** This service's prom-client Registry when metrics are on, else undefined. */
  readonly metrics: MetricsRegistry | undefined;

  private readonly measure: ServiceMetrics | undefined;
  private metricsEndpoint: MetricsEndpoint | undefined;
  private unwatchBreakers: (() => void) | undefined;
  private readonly options: ServiceOptions;
  private readonly compile: CompileOptions;
  private readonly records = new Map<string, ServiceRecord>();
  /** The node record of each service served here, as the in-process fast path shows it to call wrappers. */
  private readonly localNodes = new Map<string, SelectedNode>();
  private readonly pendingSubscribers: { endpoint: CompiledEndpoint; queue?: string; durable: boolean }[] = [];
  private readonly subscriptions: Subscription[] = [];
  private listener: Listener | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private state: ServiceState = 'new';
  private readonly hooks: Record<LifecycleEvent, Hook[]> = { beforeStart: [], afterStart: [], beforeStop: [], afterStop: [] };

  constructor(options: ServiceOptions) {
    if (!options.name) throw new ConfigError('a service needs a name');
    this.options = options;
    this.name = options.name;
    this.version = options.version ?? 'latest';
    const { registry, transport, broker, selector, ...rest } = options;
    this.config = resolveConfig(
      {
        ...pick(rest),
        ...(typeof registry === 'string' ? { registry } : {}),
        ...(typeof transport === 'string' ? { transport } : {}),
        ...(typeof broker === 'string' ? { broker } : {}),
        ...(typeof selector === 'string' ? { selector } : {}),
      },
      options.argv,
      options.env,
    );
    this.logger = createLogger(this.config.logLevel, { service: this.name }, { format: this.config.logFormat, sensitive: options.sensitive, redact: options.redact });
    this.nodeId = `${this.name}-${randomBytes(6).toString('hex')}`;
    if (this.config.metricsAddress !== undefined) metricsListenAddress(this.config.metricsAddress); // a bad address fails here, not at start
    // prom-client is loaded only when metrics are on; off, no wrapper, observer or listener exists at all.
    if (options.metrics || this.config.metricsAddress !== undefined) {
      const { ServiceMetrics } = require('./observe/metrics') as typeof import('./observe/metrics');
      this.measure = new ServiceMetrics(typeof options.metrics === 'object' ? options.metrics : {});
    }
    this.metrics = this.measure?.registry;
    // The metrics wrapper goes outermost, so it sees what the caller is told, errors of user wrappers included.
    this.compile = {
      wrappers: [...(this.measure ? [this.measure.wrapHandler] : []), ...(options.wrappers ?? [])],
      bulkhead: options.bulkhead,
      meter: this.measure?.meter,
    };

    // Resolve every named part before building any, so a bad name leaves no socket open behind it.
    const factories = {
      registry: typeof registry === 'object' ? undefined : pluginFactory('registry', this.config.registry),
      transport: typeof transport === 'object' ? undefined : pluginFactory('transport', this.config.transport),
      broker: typeof broker === 'object' ? undefined : pluginFactory('broker', this.config.broker),
      selector: typeof selector === 'object' ? undefined : pluginFactory('selector', this.config.selector),
      codec: pluginFactory('codec', this.config.codec),
    };
    const make = <K extends PluginKind>(kind: K, given: Part<K> | undefined, extra: Partial<PluginContext> = {}): PluginKinds[K] => {
      if (given !== undefined && typeof given !== 'string') return given;
      const factory = factories[kind] as PluginFactory<K>;
      const own = options.plugins?.[this.config[kind]] ?? {};
      // Breaker settings are the selector's business whichever strategy names it.
      const pluginOptions = kind === 'selector' && options.breaker !== undefined ? { breaker: options.breaker, ...own } : own;
      return factory({ config: this.config, logger: this.logger.child({ part: kind }), options: pluginOptions, ...extra });
    };
    this.codecs = new CodecTable();
    this.codecs.add(make('codec', undefined));
    this.registry = make('registry', registry);
    this.cache = new RegistryCache(this.registry, { logger: this.logger });
    this.transport = make('transport', transport);
    this.selector = make('selector', selector, { registry: this.registry, cache: this.cache });
    this.broker = make('broker', broker, { registry: this.registry, cache: this.cache, transport: this.transport });
    this.server = new Server({ codecs: this.codecs, logger: this.logger, dev: options.dev, propagateContext: options.propagateContext, node: this.nodeId });
    this.client = new Client({
      transport: this.transport,
      selector: this.selector,
      broker: this.broker,
      codecs: this.codecs,
      codec: this.config.codec,
      logger: this.logger,
      retries: this.config.clientRetries,
      timeout: this.config.clientRequestTimeout,
      poolSize: this.config.clientPoolSize,
      failMode: options.failMode,
      backupDelay: options.backupDelay,
      wrappers: options.callWrappers,
      observer: this.measure,
    });
    this.unwatchBreakers = this.measure?.watch(this.selector);
  }

  /** Serves a decorated handler instance. Call before start(). */
  handle(handler: object): this {
    if (this.state !== 'new') throw new Error('handle() must be called before start()');
    const d = describe(handler);
    const name = d.name ?? this.name;
    const version = d.version ?? this.version;
    let record = this.records.get(name);
    if (!record) {
      record = { name, version, metadata: { ...this.options.metadata, ...d.metadata }, endpoints: [], nodes: [] };
      this.records.set(name, record);
    }
    for (const m of d.methods) {
      const ep = compileEndpoint(name, version, m, handler, this.compile);
      this.server.add(ep);
      record.endpoints.push(ep.record);
    }
    for (const s of d.subscriptions) {
      this.pendingSubscribers.push({ endpoint: compileSubscriber(name, version, s, handler, this.compile), queue: s.queue, durable: s.durable });
    }
    return this;
  }

  /** Runs `hook` at that point of the lifecycle, in the order added; a failing beforeStart hook aborts start(). */
  on(event: LifecycleEvent, hook: Hook): this {
    this.hooks[event].push(hook);
    return this;
  }

  /** Publishes an event through the broker (same as `client.publish`). */
  publish(topic: string, payload: unknown, options?: Parameters<Client['publish']>[2]): Promise<void> {
    return this.client.publish(topic, payload, options);
  }

  /** Where the service is in its lifecycle: 'started' once start() has finished, until stop() begins. */
  get lifecycle(): ServiceState {
    return this.state;
  }

  /** The `host:port` /metrics is served on, once started with --metrics_address. */
  get metricsAddress(): string | undefined {
    return this.metricsEndpoint?.address;
  }

  /** The address the server listens on, once started. */
  get address(): string | undefined {
    return this.listener?.address;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start a service that is ${this.state}`);
    this.state = 'starting';
    await this.runHooks('beforeStart');
    if (this.measure && this.config.metricsAddress !== undefined) {
      this.metricsEndpoint = await serveMetrics(this.measure.registry, this.config.metricsAddress, this.logger);
    }
    await this.broker.connect();
    if ([...this.records.values()].some((r) => r.endpoints.length)) {
      this.listener = await this.transport.listen(this.config.serverAddress, this.server.handle, { service: this.name });
      const node = {
        id: this.nodeId,
        address: this.config.serverAdvertise ?? advertised(this.listener.address),
        // The service's metadata doubles as node labels (selector label filters, `weight` for the weighted strategy).
        metadata: { ...this.options.metadata, transport: this.transport.name, broker: this.broker.name, registry: this.registry.name, server: 'phobos' },
      };
      for (const r of this.records.values()) r.nodes = [node];
      if (this.options.preferLocal !== false) this.client.serveLocally({ server: this.server, node: (name) => this.localNode(name) });
    }
    for (const s of this.pendingSubscribers) {
      this.subscriptions.push(await this.broker.subscribe(s.endpoint.info.endpoint, this.eventHandler(s.endpoint), { queue: s.queue, durable: s.durable }));
    }
    await this.register();
    this.renewTimer = setInterval(
      () => this.register().catch((err) => this.logger.warn({ err }, 'registration renewal failed')),
      this.config.registerInterval * 1000,
    );
    this.renewTimer.unref();
    this.state = 'started';
    this.logger.info({ address: this.address, node: this.nodeId }, 'service started');
    await this.runHooks('afterStart');
  }

  /** Deregisters, drains in-flight work (bounded by drainTimeout), and closes every part. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const wasStarted = this.state === 'started';
    this.state = 'stopping';
    await this.runHooks('beforeStop').catch((err) => this.logger.warn({ err }, 'beforeStop hook failed'));
    clearInterval(this.renewTimer);
    this.client.serveLocally(undefined);
    if (wasStarted) {
      await Promise.all([...this.records.values()].map((r) => this.registry.deregister(r).catch((err) => this.logger.warn({ err }, 'deregister failed'))));
      await Promise.all(this.subscriptions.map((s) => s.unsubscribe().catch(() => {})));
      await this.server.drain(this.options.drainTimeout ?? 10_000);
      await this.listener?.close();
    }
    this.client.close();
    await settleAll([this.broker.close(), this.selector.close()]);
    this.cache.close();
    this.unwatchBreakers?.();
    await settleAll([this.registry.close(), this.transport.close?.(), this.metricsEndpoint?.close()]);
    this.state = 'stopped';
    await this.runHooks('afterStop').catch((err) => this.logger.warn({ err }, 'afterStop hook failed'));
  }

  /**
   * start() (unless already started), then wait for SIGINT/SIGTERM, stop() and exit 0. A second signal exits 1.
   * Signal handlers go in first: a signal that arrives while starting stops the service once it has started.
   */
  async run(): Promise<void> {
    const signalled = waitForSignal();
    try {
      if (this.state === 'new') await this.start();
    } catch (err) {
      process.stderr.write(`phobos: ${this.name} could not start: ${(err as Error).message}\n`);
      await this.stop().catch(() => {});
      process.exit(1);
    }
    const signal = await signalled;
    this.logger.info({ signal }, 'stopping');
    await this.stop();
    process.exit(0);
  }

  private localNode(service: string): SelectedNode | undefined {
    let node = this.localNodes.get(service);
    if (!node) {
      const r = this.records.get(service);
      if (!r?.nodes[0]) return undefined;
      this.localNodes.set(service, (node = { ...r.nodes[0], version: r.version }));
    }
    return node;
  }

  private async runHooks(event: LifecycleEvent): Promise<void> {
    for (const hook of this.hooks[event]) await hook(this);
  }

  private async register(): Promise<void> {
    const ttl = this.config.registerTtl;
    await Promise.all([...this.records.values()].filter((r) => r.nodes.length).map((r) => this.registry.register(r, { ttl })));
  }

  private eventHandler(endpoint: CompiledEndpoint) {
    const { service, endpoint: topic } = endpoint.info;
    return async (event: { codec: number; body: Uint8Array; metadata: Record<string, string> }) => {
      const codec = this.codecs.get(event.codec);
      if (!codec) throw new Error(`event on ${topic} in unknown codec id ${event.codec}`);
      const payload = codec.decode(event.body, '', topic, 'event');
      const ctx = new RequestContext(service, topic, event.metadata, 0, this.logger);
      try {
        await this.server.invoke(ctx, endpoint, payload);
      } finally {
        ctx.finish();
        this.server.onAnswered?.();
      }
    };
  }
}

/** Creates a Service. Bad flags, env values or plugin names print one line and exit 1 unless exitOnConfigError is false. */
export function createService(options: ServiceOptions): PhobosService {
  return buildOrExit(options, () => new PhobosService(options));
}

/** Runs a constructor; a ConfigError becomes one line on stderr and exit code 1 (unless exitOnConfigError is false). */
export function buildOrExit<T>(options: ServiceOptions, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof ConfigError && options.exitOnConfigError !== false) {
      process.stderr.write(`phobos: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** The config options a ServiceOptions may carry in code; the part kinds are handled apart (they may be objects). */
const CONFIG_KEYS = Object.values(FLAGS)
  .map((f) => f.key)
  .filter((k) => !['registry', 'transport', 'broker', 'selector'].includes(k));
function pick(o: Partial<Config>): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<Config>;
}

/** A wildcard bind is announced with a concrete address: the first external IPv4, else loopback. */
function advertised(address: string): string {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m || !['0.0.0.0', '::', '[::]', ''].includes(m[1])) return address;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return `${i.address}:${m[2]}`;
  }
  return `127.0.0.1:${m[2]}`;
}

async function settleAll(list: (Promise<unknown> | undefined)[]): Promise<void> {
  await Promise.allSettled(list);
}

/** Resolves on the first SIGINT/SIGTERM; a second one while stopping exits 1 at once. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(1));
      process.once('SIGTERM', () => process.exit(1));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
