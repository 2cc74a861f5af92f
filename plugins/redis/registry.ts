import type Redis from 'ioredis';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import type { RegisterOptions, Registry, ServiceRecord, WatchEvent, Watcher } from '../../lib/registry/registry';
import { QueueWatcher } from '../../lib/registry/watcher';
import { hangUp, openConnection, toRpcError, whenReady, withDeadline } from './connection';
import { DEFAULT_PREFIX, firstAddress, positive, REGISTRY_DEFAULTS, type RedisRegistryOptions } from './options';
import { mergeByVersion, recordHead, recordJson, RegistryKeys } from './registry-keys';
import { DEREGISTER, REAP, REGISTER } from './scripts';

const ID = 'phobos.registry.redis';

/**
 * The `redis` registry. Each node is a key holding its record with a TTL (PX), renewed by registering again; a hash
 * per service keeps a TTL-less copy so an expired node can still be named in the delete event, and a set indexes
 * the service names. Every change is published on one channel by the script that made it, so create/update/delete
 * reach every watcher once. Expiry: keyspace notifications (`Ex`) tell watchers a node key expired and they reap
 * it (the first reaper publishes the delete); when the server refuses CONFIG, watchers sweep periodically instead.
 *
 * Outages: commands fail at once with 503 (no offline queue). The registry remembers what it registered and
 * registers it again whenever its connection comes back, so a restarted, empty server is repopulated without
 * waiting for the service's next renewal; watchers sweep after reconnecting to catch expiries they missed.
 */
export class RedisRegistry implements Registry {
  readonly name = 'redis';
  private readonly keys: RegistryKeys;
  private readonly address: string;
  private readonly logger: Logger;
  private readonly cmd: Redis;
  private sub: Redis | undefined;
  private readonly defaultTtl: number;
  private readonly sweepMs: number;
  private readonly timeoutMs: number;
  private readonly connectMs: number;
  private readonly keyspaceEvents: boolean;
  private readonly watchers = new Set<QueueWatcher>();
  /** What this client registered, by node key, to register again after the server lost it. */
  private readonly owned = new Map<string, { record: ServiceRecord; ttl: number }>();
  private expiryEvents = false;
  private configWarned = false;
  private everReady = false;
  private watching: Promise<void> | undefined;
  private subscribed = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;

  constructor(options: RedisRegistryOptions = {}) {
    this.keys = new RegistryKeys(options.prefix ?? DEFAULT_PREFIX);
    this.address = firstAddress(options.address);
    this.logger = options.logger ?? silentLogger;
    this.defaultTtl = positive('ttl', options.ttl, REGISTRY_DEFAULTS.ttl);
    this.sweepMs = positive('sweepIntervalMs', options.sweepIntervalMs, REGISTRY_DEFAULTS.sweepIntervalMs);
    this.timeoutMs = positive('commandTimeoutMs', options.commandTimeoutMs, REGISTRY_DEFAULTS.commandTimeoutMs);
    this.connectMs = positive('connectTimeoutMs', options.connectTimeoutMs, REGISTRY_DEFAULTS.connectTimeoutMs);
    this.keyspaceEvents = options.keyspaceEvents ?? true;
    this.cmd = openConnection(this.address, 'phobos-registry', this.logger);
    this.cmd.on('ready', () => void this.onReady());
  }

  /** Connects, and starts listening for changes so that a watch() made after this misses nothing. */
  async connect(): Promise<void> {
    await whenReady(this.cmd, this.connectMs, ID);
    await withDeadline(this.startWatching(), this.connectMs, ID, 'redis registry subscription');
  }

  async register(service: ServiceRecord, options: RegisterOptions = {}): Promise<void> {
    const ttl = options.ttl ?? this.defaultTtl;
    await this.run('register', () => this.registerNow(service, ttl));
    for (const node of service.nodes) this.owned.set(this.keys.node(service.name, node.id), { record: { ...service, nodes: [node] }, ttl });
  }

  async deregister(service: ServiceRecord): Promise<void> {
    for (const node of service.nodes) this.owned.delete(this.keys.node(service.name, node.id));
    if (service.nodes.length === 0) return;
    const nodeArgs = service.nodes.flatMap((n) => [n.id, JSON.stringify(n)]);
    await this.run('deregister', () =>
      DEREGISTER.run(this.cmd, [this.keys.services, this.keys.nodes(service.name), ...service.nodes.map((n) => this.keys.node(service.name, n.id))], [
        service.name,
        this.keys.events,
        recordHead(service),
        ...nodeArgs,
      ]),
    );
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    return this.run('getService', () => this.lookup(name));
  }

  async listServices(): Promise<ServiceRecord[]> {
    return this.run('listServices', async () => {
      const names = await this.cmd.smembers(this.keys.services);
      const found = await Promise.all(names.map((n) => this.lookup(n)));
      return found.flat();
    });
  }

  watch(options: { service?: string } = {}): Watcher {
    const w = new QueueWatcher(options.service, (x) => this.watchers.delete(x), this.logger);
    if (this.closed) w.stop();
    else {
      this.watchers.add(w);
      void this.startWatching().catch(() => undefined); // retried on the subscriber's next 'ready'
    }
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const w of [...this.watchers]) w.stop();
    hangUp(this.cmd);
    if (this.sub) hangUp(this.sub);
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  /** Runs a command sequence after the first connection is up, with a deadline, mapping failures to RpcErrors. */
  private async run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.closed) throw toRpcError(new Error('registry is closed'), ID, what);
    try {
      if (!this.everReady) await whenReady(this.cmd, Math.min(this.connectMs, this.timeoutMs), ID);
      return await withDeadline(op(), this.timeoutMs, ID, `redis ${what}`);
    } catch (err) {
      throw toRpcError(err, ID, `redis ${what}`);
    }
  }

  private registerNow(service: ServiceRecord, ttl: number): Promise<unknown> {
    const ttlMs = Math.max(1, Math.round(ttl * 1000));
    const keys = [this.keys.services, this.keys.nodes(service.name), ...service.nodes.map((n) => this.keys.node(service.name, n.id))];
    const nodeArgs = service.nodes.flatMap((n) => [n.id, recordJson(service, [n])]);
    return REGISTER.run(this.cmd, keys, [service.name, ttlMs, this.keys.events, recordJson(service), ...nodeArgs]);
  }

  /** The live nodes of `name` by version; nodes whose key expired are reaped on the way (which announces them). */
  private async lookup(name: string): Promise<ServiceRecord[]> {
    const ids = await this.cmd.hkeys(this.keys.nodes(name));
    if (ids.length === 0) return [];
    const values = await this.cmd.mget(ids.map((id) => this.keys.node(name, id)));
    const live: ServiceRecord[] = [];
    const expired: string[] = [];
    values.forEach((json, i) => {
      if (json === null) expired.push(ids[i]);
      else live.push(JSON.parse(json) as ServiceRecord);
    });
    await Promise.all(expired.map((id) => this.reap(name, id)));
    return mergeByVersion(live);
  }

  private reap(service: string, nodeId: string): Promise<unknown> {
    return REAP.run(this.cmd, [this.keys.services, this.keys.nodes(service), this.keys.node(service, nodeId)], [service, nodeId, this.keys.events]);
  }

  /** Every (re)connection: make sure expiry events are on, and put back what the server may have lost. */
  private async onReady(): Promise<void> {
    const again = this.everReady;
    this.everReady = true;
    await this.enableExpiryEvents();
    if (!again || this.owned.size === 0) return;
    const entries = [...this.owned.values()];
    const results = await Promise.allSettled(entries.map((e) => this.registerNow(e.record, e.ttl)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    this.logger.info({ nodes: entries.length, failed }, 'redis registry: registered again after reconnecting');
  }

  private async enableExpiryEvents(): Promise<void> {
    if (!this.keyspaceEvents) return;
    try {
      const [, flags = ''] = (await this.cmd.config('GET', 'notify-keyspace-events')) as string[];
      const has = (c: string) => flags.includes(c) || (c === 'x' && flags.includes('A'));
      if (!has('E') || !has('x')) await this.cmd.config('SET', 'notify-keyspace-events', `${flags}${has('E') ? '' : 'E'}${has('x') ? '' : 'x'}`);
      this.expiryEvents = true;
    } catch (err) {
      this.expiryEvents = false;
      if (!this.configWarned) {
        this.logger.warn(
          { err: (err as Error).message },
          `redis registry: cannot enable keyspace expiry events (CONFIG refused); watchers sweep for expired nodes every ${this.sweepMs} ms`,
        );
      }
      this.configWarned = true;
    }
  }

  /** One subscriber connection per registry for the change channel (and expiry events), made on first need. */
  private startWatching(): Promise<void> {
    if (this.watching) return this.watching;
    const sub = openConnection(this.address, 'phobos-registry-watch', this.logger);
    this.sub = sub;
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    let subscribedNow: () => void = () => undefined;
    this.watching = new Promise((resolve) => (subscribedNow = resolve));
    sub.on('ready', () => {
      if (this.subscribed) {
        // ioredis has re-subscribed by itself; look for what expired while we were not listening.
        void this.sweep();
        return;
      }
      const channels = [this.keys.events, ...(this.keyspaceEvents ? [this.expiredChannel()] : [])];
      sub.subscribe(...channels).then(
        () => {
          this.subscribed = true;
          subscribedNow();
        },
        (err: Error) => this.logger.warn({ err: err.message }, 'redis registry: subscribing failed; retrying on reconnect'),
      );
    });
    this.sweepTimer = setInterval(() => {
      if (!this.expiryEvents && this.watchers.size > 0) void this.sweep();
    }, this.sweepMs);
    this.sweepTimer.unref();
    sub.connect().catch(() => undefined); // failures show as 'error' events; ioredis keeps retrying
    return this.watching;
  }

  private expiredChannel(): string {
    return `__keyevent@${this.cmd.options.db ?? 0}__:expired`;
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.keys.events) {
      let event: WatchEvent;
      try {
        event = JSON.parse(message) as WatchEvent;
      } catch {
        this.logger.warn({ channel }, 'redis registry: ignoring a change that is not JSON');
        return;
      }
      for (const w of this.watchers) w.push(event);
      return;
    }
    const node = this.keys.parseNode(message);
    if (node && this.watchers.size > 0) {
      this.reap(node.service, node.nodeId).catch((err: Error) => this.logger.debug({ err: err.message }, 'redis registry: reap failed'));
    }
  }

  /** Reaps every expired node of every service (watchers only: they are the ones who need to hear of expiry). */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.closed || this.cmd.status !== 'ready') return;
    this.sweeping = true;
    try {
      const names = await this.cmd.smembers(this.keys.services);
      for (const name of names) await this.lookup(name);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'redis registry: sweep failed');
    } finally {
      this.sweeping = false;
    }
  }
}
