import { randomBytes } from 'node:crypto';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { RpcError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import type { RegisterOptions, Registry, ServiceRecord, Watcher } from '../../lib/registry/registry';
import { QueueWatcher } from '../../lib/registry/watcher';
import { NATS_ERROR_ID, NatsConnector, type NatsConnectionOptions } from './connection';
import { type Announcement, RegistryView } from './registry-view';

/**
 * `--registry=nats`, in the go-micro NATS registry's manner: no store on the server. Each registry instance holds what
 * it registered and answers queries for it on `<prefix>.query`; register, renew and deregister are announced on
 * `<prefix>.watch`. Every instance keeps a view (registry-view.ts) fed by those announcements, filled at start by a
 * query to everyone, in which nodes expire when their renewal does not come within their TTL: a crashed process
 * disappears within its TTL and watchers hear a delete. (JetStream KV was the alternative, but on this server
 * version a key expiring by the bucket's max age emits no delete, so watchers would never hear of a crash.)
 *
 * After a NATS outage an instance announces what it holds again and queries everyone, so views lost nothing that
 * still lives. While NATS is down register/deregister fail with 503 and lookups answer from the view.
 */

export type NatsRegistryOptions = Omit<NatsConnectionOptions, 'logger'> & {
  /** Subject prefix for the announcements and queries; registries with different prefixes do not see each other. */
  prefix?: string;
  /** TTL (seconds) of registrations made without one. Default 90. */
  ttl?: number;
  /** A query gathers answers until none came for this long (ms). Default 100. */
  querySettleMs?: number;
  /** ... and never for longer than this (ms). Default 1000. */
  queryMaxMs?: number;
  logger?: Logger;
};

interface Held {
  announcement: Announcement;
  expires: number;
}

const SWEEP_MS = 250;
/** Lookups of a service the view does not know ask the network again, at most this often per name. */
const MISS_QUERY_MS = 1000;

export class NatsRegistry implements Registry {
  readonly name = 'nats';
  private readonly conn: NatsConnector;
  private readonly logger: Logger;
  private readonly origin = randomBytes(8).toString('hex');
  private seq = 0;
  /** What this instance registered, by node key: what it answers queries with and announces again after an outage. */
  private readonly held = new Map<string, Held>();
  private readonly view: RegistryView;
  private readonly watchers = new Set<QueueWatcher>();
  private readonly subs: Subscription[] = [];
  private readonly missQueried = new Map<string, number>();
  private starting: Promise<NatsConnection> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly watchSubject: string;
  private readonly querySubject: string;

  constructor(private readonly options: NatsRegistryOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.conn = new NatsConnector({ name: 'phobos-registry', ...options, logger: this.logger });
    const prefix = options.prefix ?? 'phobos.registry';
    this.watchSubject = `${prefix}.watch`;
    this.querySubject = `${prefix}.query`;
    this.view = new RegistryView((event) => {
      for (const w of this.watchers) w.push(structuredClone(event));
    });
  }

  async register(service: ServiceRecord, options: RegisterOptions = {}): Promise<void> {
    const ttlMs = (options.ttl ?? this.options.ttl ?? 90) * 1000;
    await this.announce(service, 'put', ttlMs);
  }

  async deregister(service: ServiceRecord): Promise<void> {
    await this.announce(service, 'delete', 0);
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    await this.start();
    const now = Date.now();
    if (!this.view.has(name) && this.conn.connected && now - (this.missQueried.get(name) ?? 0) > MISS_QUERY_MS) {
      // Registered elsewhere before we listened and not renewed since? Ask once rather than wait for a renewal.
      this.missQueried.set(name, now);
      await this.query(name);
    }
    return this.view.get(name);
  }

  async listServices(): Promise<ServiceRecord[]> {
    await this.start();
    return this.view.names().flatMap((name) => this.view.get(name));
  }

  watch(options: { service?: string } = {}): Watcher {
    const watcher = new QueueWatcher(options.service, (w) => this.watchers.delete(w), this.logger);
    this.watchers.add(watcher);
    // Announcements flow once the subscriptions exist; a watcher made first must not wait for a lookup to start them.
    this.start().catch((err) => this.logger.warn({ err }, 'nats registry could not start for a watch'));
    return watcher;
  }

  /** Releases the connection. Registrations are not withdrawn: they live out their TTL in everyone's view. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.stop();
    clearInterval(this.sweeper);
    for (const s of this.subs.splice(0)) s.unsubscribe();
    await this.conn.close();
  }

  private async announce(service: ServiceRecord, action: Announcement['action'], ttlMs: number): Promise<void> {
    await this.start();
    const nc = this.conn.requireConnected();
    const a: Announcement = { origin: this.origin, seq: ++this.seq, action, ttlMs, service: structuredClone(service) };
    for (const node of service.nodes) {
      const key = `${service.name}\u0000${service.version}\u0000${node.id}`;
      if (action === 'delete') this.held.delete(key);
      else this.held.set(key, { announcement: { ...a, service: { ...a.service, nodes: [node] } }, expires: Date.now() + ttlMs });
    }
    this.view.apply(a);
    nc.publish(this.watchSubject, JSON.stringify(a));
    await this.conn.guard(nc.flush(), 5000, `registry ${action}`);
  }

  /** Subscribes and fills the view, once; a failure (NATS unreachable) is a 503 and the next call tries again. */
  private start(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(new RpcError(NATS_ERROR_ID, 503, 'the registry is closed'));
    this.starting ??= this.open().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async open(): Promise<NatsConnection> {
    const nc = await this.conn.get();
    if (this.subs.length === 0) {
      this.subs.push(nc.subscribe(this.watchSubject, { callback: (err, msg) => (err ? undefined : this.onAnnouncement(msg)) }));
      this.subs.push(nc.subscribe(this.querySubject, { callback: (err, msg) => (err ? undefined : this.onQuery(msg)) }));
      this.conn.on((event) => {
        if (event === 'reconnect') this.resync().catch((err) => this.logger.warn({ err }, 'registry resync after reconnect failed'));
      });
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
    await this.conn.guard(nc.flush(), 5000, 'registry subscribe');
    await this.query();
    return nc;
  }

  /** After an outage: tell everyone what we hold (their views may have expired it) and hear what they hold. */
  private async resync(): Promise<void> {
    const nc = this.conn.requireConnected();
    for (const h of this.held.values()) {
      const a: Announcement = { ...h.announcement, seq: ++this.seq, ttlMs: Math.max(1, h.expires - Date.now()) };
      h.announcement = a;
      nc.publish(this.watchSubject, JSON.stringify(a));
    }
    await this.query();
  }

  /**
   * Asks every registry instance (this one included) for what it holds, of `service` or of everything, and applies
   * the answers. Gathers until answers stop coming for querySettleMs, or queryMaxMs, or NATS says nobody listens.
   */
  private query(service?: string): Promise<void> {
    const nc = this.conn.requireConnected();
    const settleMs = this.options.querySettleMs ?? 100;
    const maxMs = this.options.queryMaxMs ?? 1000;
    const inbox = createInbox();
    return new Promise<void>((resolve) => {
      let settle: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(settle);
        clearTimeout(cap);
        sub.unsubscribe();
        resolve();
      };
      const cap = setTimeout(finish, maxMs);
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err || (msg.headers?.code === 503 && msg.data.length === 0)) return finish();
          this.onAnswer(msg);
          clearTimeout(settle);
          settle = setTimeout(finish, settleMs);
        },
      });
      nc.publish(this.querySubject, JSON.stringify({ service }), { reply: inbox });
    });
  }

  private onQuery(msg: Msg): void {
    if (!msg.reply || !this.conn.connected) return;
    let service: string | undefined;
    try {
      service = (JSON.parse(msg.string() || '{}') as { service?: string }).service;
    } catch {
      return;
    }
    const now = Date.now();
    // Nodes registered together answer together (one create for the asker's watchers, as the announcement was).
    const bySeq = new Map<number, Announcement>();
    for (const h of this.held.values()) {
      if (h.expires <= now || (service !== undefined && h.announcement.service.name !== service)) continue;
      const a = h.announcement;
      const same = bySeq.get(a.seq);
      if (same) same.service.nodes.push(...a.service.nodes);
      else bySeq.set(a.seq, { ...a, ttlMs: h.expires - now, service: { ...a.service, nodes: [...a.service.nodes] } });
    }
    const entries = [...bySeq.values()];
    // Answer in pieces that fit NATS' max_payload; an instance holding nothing still answers, so askers settle fast.
    const limit = Math.floor(this.conn.maxPayload / 2);
    let chunk: Announcement[] = [];
    let size = 0;
    for (const e of entries) {
      const n = JSON.stringify(e).length;
      if (chunk.length && size + n > limit) {
        msg.respond(JSON.stringify(chunk));
        chunk = [];
        size = 0;
      }
      chunk.push(e);
      size += n;
    }
    msg.respond(JSON.stringify(chunk));
  }

  private onAnswer(msg: Msg): void {
    const list = parse<Announcement[]>(msg, this.logger);
    if (Array.isArray(list)) for (const a of list) if (valid(a)) this.view.apply(a);
  }

  private onAnnouncement(msg: Msg): void {
    const a = parse<Announcement>(msg, this.logger);
    if (valid(a)) this.view.apply(a);
  }

  private sweep(): void {
    const now = Date.now();
    // What the application stopped renewing is no longer ours to answer for.
    for (const [key, h] of this.held) if (h.expires <= now) this.held.delete(key);
    this.view.expire(now);
  }
}

function parse<T>(msg: Msg, logger: Logger): T | undefined {
  try {
    return JSON.parse(msg.string()) as T;
  } catch {
    logger.warn({ subject: msg.subject }, 'ignored a registry message that is not JSON');
    return undefined;
  }
}

function valid(a: Announcement | undefined): a is Announcement {
  const s = a?.service;
  return (
    !!a &&
    typeof a.origin === 'string' &&
    typeof a.seq === 'number' &&
    (a.action === 'put' || a.action === 'delete') &&
    typeof a.ttlMs === 'number' &&
    !!s &&
    typeof s.name === 'string' &&
    typeof s.version === 'string' &&
    !!s.metadata &&
    typeof s.metadata === 'object' &&
    Array.isArray(s.endpoints) &&
    Array.isArray(s.nodes) &&
    s.nodes.every((n) => n && typeof n.id === 'string' && typeof n.address === 'string')
  );
}
