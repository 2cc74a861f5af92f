import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import multicastDns from 'multicast-dns';
import type { MulticastDNS, QueryPacket, ResponseOutgoingPacket, ResponsePacket } from 'multicast-dns';
import { silentLogger } from '../../lib/observe/logger';
import type { Logger } from '../../lib/observe/logger';
import type { RegisterOptions, Registry, ServiceRecord, WatchEvent, Watcher } from '../../lib/registry/registry';
import { ServiceCache } from './cache';
import { BROWSE_MS, DEFAULT_TTL, GOODBYE_MS, LOOKUP_MS, MAX_TTL, RETRY_MS, SETTLE_MS, clampTtl, withTimeout } from './options';
import type { MdnsRegistryOptions } from './options';
import { announcement, asked, enumeration, heard } from './packets';
import type { Registration } from './packets';
import * as rec from './records';
import { isLoopbackSource, planSocket } from './socket';
import type { SocketPlan } from './socket';
import { QueueWatcher } from '../../lib/registry/watcher';

/**
 * The zero-config default registry: nodes announce themselves over multicast DNS (DNS-SD type `_phobos._tcp.local`,
 * one instance per node, the service record in its TXT) and every registry listens to every answer, so discovery is
 * a read of a local, TTL-expiring cache. Loopback only unless an interface is named; see socket.ts for why the socket
 * is set up the way it is.
 */
export class MdnsRegistry implements Registry {
  readonly name = 'mdns';
  /** Marks our own packets; the loopback hands them back to us and our own view is already authoritative. */
  readonly id = randomBytes(6).toString('hex');

  private readonly plan: SocketPlan;
  private readonly mdns: MulticastDNS;
  private readonly log: Logger;
  private readonly ready: Promise<void>;
  private readonly ttl: number;
  private readonly announceInterval: number | undefined;
  private readonly registered = new Map<string, Registration>();
  private readonly cache: ServiceCache;
  private readonly watchers = new Set<QueueWatcher>();
  /** Internal listeners (pending lookups) to cache changes. */
  private readonly changes = new Set<(e: WatchEvent) => void>();
  private readonly closing = new AbortController();
  private browsing: Promise<void> | undefined;
  private closed: Promise<void> | undefined;

  constructor(options: MdnsRegistryOptions = {}) {
    this.plan = planSocket(options);
    this.ttl = clampTtl(options.ttl ?? DEFAULT_TTL);
    this.announceInterval = options.announceInterval;
    this.log = (options.logger ?? silentLogger).child({ registry: 'mdns' });
    this.cache = new ServiceCache((e) => this.onChange(e));
    this.mdns = multicastDns(this.plan.options);
    this.ready = new Promise<void>((resolve, reject) => {
      this.mdns.once('ready', resolve);
      this.mdns.once('error', (err: Error) => {
        const { bind, port } = this.plan.options;
        const hint = 'another mDNS responder may hold the port without SO_REUSEADDR; the `port` option picks another';
        reject(new Error(`mdns: cannot bind ${bind}:${port} (${err.message}); ${hint}`, { cause: err }));
      });
    });
    // Surfaced by the operations that await it; a registry nobody uses must not crash the process on EADDRINUSE.
    this.ready.catch(() => undefined);
    this.mdns.on('error', (err) => this.log.error({ err, address: this.plan.address }, 'mdns socket error'));
    // Undecodable packets from other speakers land here: expected noise, not ours to report loudly.
    this.mdns.on('warning', (err) => this.log.debug({ err }, 'mdns warning'));
    this.mdns.on('query', (packet, rinfo) => this.guard(() => this.onQuery(packet, rinfo)));
    this.mdns.on('response', (packet, rinfo) => this.guard(() => this.onResponse(packet, rinfo)));
  }

  async register(service: ServiceRecord, options: RegisterOptions = {}): Promise<void> {
    await this.open();
    if (!service.nodes?.length) throw new Error(`mdns: register(${service.name}) needs at least one node`);
    // No TTL, or 0 (the memory registry's "never expires"): mDNS has no forever, so use the default and keep
    // re-announcing, which lives exactly as long as the process does.
    const ttl = options.ttl && options.ttl > 0 ? clampTtl(options.ttl) : this.ttl;
    // Encode every node first, so a record too big to send fails the call before anything is announced.
    const regs = service.nodes.map((node): Registration => {
      const record = rec.nodeRecord(service, node);
      const instance = rec.instanceName(service.name, service.version, node.id);
      const txt = rec.encodeTxt(record, this.id);
      const size = rec.txtBytes(txt);
      if (size > rec.TXT_MAX_BYTES) {
        throw new Error(`mdns: record of ${service.name} is ${size} bytes compressed, over ${rec.TXT_MAX_BYTES}`);
      }
      if (size > rec.TXT_WARN_BYTES) this.log.warn({ service: service.name, size }, 'mdns record exceeds 9000-byte mDNS packets');
      return { instance, key: instance.toLowerCase(), subtype: rec.subtypeName(service.name), record, txt, ttl };
    });
    await Promise.all(
      regs.map((reg) => {
        const old = this.registered.get(reg.key);
        if (old?.timer) clearTimeout(old.timer);
        this.registered.set(reg.key, reg);
        this.reannounce(reg, Math.min(1000, this.intervalOf(reg)));
        return this.announce(reg);
      }),
    );
  }

  async deregister(service: ServiceRecord): Promise<void> {
    await this.open();
    const gone: Registration[] = [];
    for (const node of service.nodes ?? []) {
      const key = rec.instanceName(service.name, service.version, node.id).toLowerCase();
      const reg = this.registered.get(key);
      if (!reg) continue;
      if (reg.timer) clearTimeout(reg.timer);
      this.registered.delete(key);
      this.cache.remove(key);
      gone.push(reg);
    }
    await Promise.all(gone.map((reg) => this.send(announcement(reg, 0))));
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    await this.open();
    if (this.cache.has(name)) return this.cache.get(name);
    return this.lookup(name);
  }

  async listServices(): Promise<ServiceRecord[]> {
    await this.open();
    await this.browse();
    return this.cache.list();
  }

  watch(options: { service?: string } = {}): Watcher {
    const watcher = new QueueWatcher(options.service, (w) => this.watchers.delete(w), this.log);
    if (this.closed) watcher.stop();
    else {
      this.watchers.add(watcher);
      // Ask the network once, so nodes registered before we started listening surface as create events.
      this.browse().catch(() => undefined);
    }
    return watcher;
  }

  /** Says goodbye for every node still registered, then releases the socket and every timer. */
  close(): Promise<void> {
    return this.shutdown(true);
  }

  /** Releases everything WITHOUT goodbyes, as a crash would: peers only learn by TTL expiry. For tests. */
  kill(): Promise<void> {
    return this.shutdown(false);
  }

  private shutdown(goodbye: boolean): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      const regs = [...this.registered.values()];
      for (const reg of regs) if (reg.timer) clearTimeout(reg.timer);
      this.registered.clear();
      if (goodbye && regs.length) {
        const sent = Promise.all(regs.map((reg) => this.send(announcement(reg, 0))));
        await withTimeout(sent, GOODBYE_MS);
      }
      for (const w of [...this.watchers]) w.stop();
      this.cache.clear();
      await new Promise<void>((resolve) => this.mdns.destroy(() => resolve()));
    })();
    return this.closed;
  }

  private async open(): Promise<void> {
    if (this.closed) throw new Error('mdns registry is closed');
    await this.ready;
    // Checked again: close() may have run while we waited, and nothing may be armed on a closed registry.
    if (this.closed) throw new Error('mdns registry is closed');
  }

  /** Capped at half the TTL whatever was asked: a longer interval would let peers expire a live node. */
  private intervalOf(reg: Registration): number {
    const ttlMs = reg.ttl * 1000;
    return Math.max(100, Math.min(this.announceInterval ?? ttlMs / 3, ttlMs / 2));
  }

  /** Re-announces while registered. The first repeat comes soon (RFC 6762 §8.3 announces twice) in case one is lost. */
  private reannounce(reg: Registration, delay: number): void {
    reg.timer = setTimeout(() => {
      if (this.registered.get(reg.key) !== reg) return;
      this.announce(reg).catch(() => undefined);
      this.reannounce(reg, this.intervalOf(reg));
    }, delay);
    reg.timer.unref();
  }

  private announce(reg: Registration): Promise<void> {
    // Our own nodes go straight into our cache: the loopback copy of the packet is ignored (see `id`).
    this.cache.upsert(reg.key, reg.record, reg.ttl);
    return this.send(announcement(reg, reg.ttl));
  }

  /** Sends a response; failures are logged, not thrown: the next announcement or query answer retries. */
  private send(packet: ResponseOutgoingPacket): Promise<void> {
    return new Promise((resolve) => {
      this.mdns.respond(packet, (err) => {
        if (err) this.log.warn({ err }, 'mdns send failed');
        resolve();
      });
    });
  }

  private onQuery(packet: QueryPacket, rinfo: RemoteInfo): void {
    if (this.plan.loopback && !isLoopbackSource(rinfo.address)) return;
    if (this.registered.size === 0) return;
    const { answer, enumerate } = asked(packet, this.registered.values());
    if (enumerate) this.send(enumeration(this.ttl)).catch(() => undefined);
    for (const reg of answer) this.send(announcement(reg, reg.ttl)).catch(() => undefined);
  }

  /** Every response heard feeds the cache, whoever asked: that is what keeps every registry's view warm. */
  private onResponse(packet: ResponsePacket, rinfo: RemoteInfo): void {
    if (this.plan.loopback && !isLoopbackSource(rinfo.address)) return;
    for (const h of heard(packet)) {
      // Our own nodes: the local view is authoritative, and a late loopback copy must not resurrect or drop them.
      if (this.registered.has(h.key)) continue;
      if (!h.decoded) this.cache.remove(h.key);
      else if (h.decoded.src !== this.id) this.cache.upsert(h.key, h.decoded.record, Math.min(h.ttl, MAX_TTL));
    }
  }

  private onChange(event: WatchEvent): void {
    for (const w of this.watchers) w.push(event);
    for (const fn of this.changes) fn(event);
  }

  /** A name nobody announced lately: ask the nodes of its subtype, a few times, for at most LOOKUP_MS. */
  private lookup(name: string): Promise<ServiceRecord[]> {
    // close() may have run while we awaited the socket: an aborted signal never fires its listeners again.
    if (this.closing.signal.aborted) return Promise.resolve([]);
    return new Promise((resolve) => {
      const ask = (): void => this.mdns.query({ questions: [{ name: rec.subtypeName(name), type: 'PTR' }] });
      const timers: NodeJS.Timeout[] = [];
      const finish = (): void => {
        for (const t of timers) clearTimeout(t);
        this.changes.delete(onChange);
        this.closing.signal.removeEventListener('abort', finish);
        resolve(this.cache.get(name));
      };
      let settling = false;
      const onChange = (e: WatchEvent): void => {
        if (e.service.name !== name || e.action === 'delete' || settling) return;
        settling = true;
        timers.push(setTimeout(finish, SETTLE_MS));
      };
      this.changes.add(onChange);
      this.closing.signal.addEventListener('abort', finish);
      timers.push(setInterval(ask, RETRY_MS), setTimeout(finish, LOOKUP_MS));
      ask();
    });
  }

  /**
   * Asks every node to announce itself and listens for BROWSE_MS, once per registry: after that the cache stays
   * complete by itself, because nodes announce on register, re-announce every TTL/3, and we hear all of it.
   */
  private browse(): Promise<void> {
    if (this.closing.signal.aborted) return Promise.resolve();
    this.browsing ??= new Promise<void>((resolve) => {
      const ask = (): void => this.mdns.query({ questions: [{ name: rec.SERVICE_TYPE, type: 'PTR' }] });
      const finish = (): void => {
        clearTimeout(again);
        clearTimeout(done);
        this.closing.signal.removeEventListener('abort', finish);
        resolve();
      };
      const again = setTimeout(ask, BROWSE_MS / 2);
      const done = setTimeout(finish, BROWSE_MS);
      this.closing.signal.addEventListener('abort', finish);
      ask();
    });
    return this.browsing;
  }

  /** A throwing handler inside an EventEmitter listener would take the process down; a bad packet never may. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.debug({ err }, 'mdns packet ignored');
    }
  }
}
