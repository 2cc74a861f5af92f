import { randomBytes } from 'node:crypto';
import { Pool } from '../client/pool';
import { errors, RpcError } from '../errors';
import type { Logger } from '../observe/logger';
import { silentLogger } from '../observe/logger';
import type { RegistryCache } from '../registry/cache';
import type { NodeRecord, ServiceRecord } from '../registry/registry';
import { MessageKind, responseTo, type Listener, type Message, type Transport } from '../transport/transport';
import type { Broker, Event, EventHandler, PublishOptions, SubscribeOptions, Subscription } from './broker';
import { route } from './groups';

/**
 * The zero-server cross-process broker (go-micro's HTTP-broker idea): each subscription is registered in the
 * registry as a node of the service `phobos.topic.<topic>`, and a publisher sends the event straight to the
 * subscribers' listeners over the transport. Every subscriber without a queue gets the event; each queue group gets
 * it once, falling back to another member when delivery to the first fails. Delivery is acknowledged after the
 * handler ran; a handler's failure is the subscriber's to log. `publish` fails (503) only when no target could be
 * reached at all. Wildcard topics are not supported: use an engine broker for those.
 */

export interface P2PBrokerOptions {
  cache: RegistryCache;
  transport: Transport;
  /** Address the subscriber listener binds (default 127.0.0.1:0). */
  address?: string;
  /** Address announced to publishers, when it differs from the bound one. */
  advertise?: string;
  /** Registration TTL and renewal interval, in seconds. */
  ttl?: number;
  interval?: number;
  /** Default publish timeout, ms. */
  timeout?: number;
  logger?: Logger;
}

export const TOPIC_SERVICE_PREFIX = 'phobos.topic.';
const QUEUE_KEY = 'queue';

interface LocalSub {
  id: string;
  topic: string;
  queue?: string;
  handler: EventHandler;
  record: ServiceRecord;
}

export class P2PBroker implements Broker {
  readonly name = 'p2p';
  private readonly cache: RegistryCache;
  private readonly transport: Transport;
  private readonly logger: Logger;
  private readonly pool: Pool;
  private readonly subs = new Map<string, LocalSub>();
  private readonly turns = new Map<string, number>();
  private readonly brokerId = randomBytes(6).toString('hex');
  private listener: Promise<Listener> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(private readonly options: P2PBrokerOptions) {
    this.cache = options.cache;
    this.transport = options.transport;
    this.logger = options.logger ?? silentLogger;
    this.pool = new Pool(options.transport, { dialOptions: { connectTimeout: 2000 } });
  }

  /** Publishers need nothing; the subscriber listener starts with the first subscription. */
  async connect(): Promise<void> {}

  async publish(event: Event, options: PublishOptions = {}): Promise<void> {
    const timeout = options.timeout ?? this.options.timeout ?? 5000;
    const deadline = Date.now() + timeout;
    const records = await this.cache.getService(TOPIC_SERVICE_PREFIX + event.topic);
    const members = records.flatMap((r) => r.nodes).map((n) => ({ node: n, queue: n.metadata[QUEUE_KEY] || undefined }));
    if (members.length === 0) return;
    const results = await Promise.all(route(members, this.turns).map((group) => this.deliver(event, group, deadline)));
    const failed = results.filter((r): r is RpcError => r !== undefined);
    if (failed.length === results.length) {
      throw errors.unavailable('phobos.broker', `no subscriber of ${event.topic} could be reached: ${failed[0].detail}`);
    }
    if (failed.length) this.logger.warn({ topic: event.topic, failed: failed.length }, 'some subscribers were unreachable');
  }

  async subscribe(topic: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    if (!topic || /[*>#]/.test(topic)) throw new Error(`p2p broker: topic "${topic}" must be a plain name (no wildcards)`);
    const listener = await this.listen();
    const id = `${this.brokerId}-${++this.seq}`;
    const node: NodeRecord = { id, address: this.options.advertise ?? listener.address, metadata: { [QUEUE_KEY]: options.queue ?? '', transport: this.transport.name } };
    const record: ServiceRecord = { name: TOPIC_SERVICE_PREFIX + topic, version: 'p2p', metadata: {}, endpoints: [], nodes: [node] };
    const sub: LocalSub = { id, topic, queue: options.queue, handler, record };
    this.subs.set(id, sub);
    await this.cache.registry.register(record, { ttl: this.options.ttl ?? 90 });
    this.scheduleRenewal();
    return { topic, queue: options.queue, unsubscribe: () => this.unsubscribe(sub) };
  }

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    await Promise.all([...this.subs.values()].map((s) => this.unsubscribe(s)));
    this.pool.close();
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await (await listener).close();
  }

  private async unsubscribe(sub: LocalSub): Promise<void> {
    if (!this.subs.delete(sub.id)) return;
    try {
      await this.cache.registry.deregister(sub.record);
    } catch (err) {
      this.logger.warn({ err, topic: sub.topic }, 'could not deregister a subscription; it will expire');
    }
  }

  /** Tries each member of a group in turn; resolves undefined on the first success, else the last error. */
  private async deliver(event: Event, group: { node: NodeRecord }[], deadline: number): Promise<RpcError | undefined> {
    let last: RpcError | undefined;
    for (const { node } of group) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return last ?? errors.timeout('phobos.broker', `publish to ${event.topic} timed out`);
      const frame: Message = {
        kind: MessageKind.request,
        id: 0,
        codec: event.codec,
        service: event.topic,
        endpoint: node.id,
        timeout: remaining,
        metadata: event.metadata,
        error: false,
        body: event.body,
      };
      try {
        const got = this.pool.get(node.address);
        const reply = await (got instanceof Promise ? got : Promise.resolve(got)).then((s) => s.request(frame, { timeout: remaining }));
        if (!reply.error) return undefined;
        last = errors.unavailable('phobos.broker', `subscriber ${node.id} refused the event`);
      } catch (err) {
        last = err instanceof RpcError ? err : errors.unavailable('phobos.broker', String(err));
      }
      this.cache.invalidate(TOPIC_SERVICE_PREFIX + event.topic);
    }
    return last;
  }

  private listen(): Promise<Listener> {
    this.listener ??= this.transport.listen(this.options.address ?? '127.0.0.1:0', (msg, reply) => {
      const sub = this.subs.get(msg.endpoint);
      if (!sub || sub.topic !== msg.service) {
        reply(responseTo(msg, new Uint8Array(0), true));
        return;
      }
      const event: Event = { topic: sub.topic, codec: msg.codec, body: msg.body, metadata: msg.metadata ?? {} };
      Promise.resolve()
        .then(() => sub.handler(event))
        .catch((err) => this.logger.error({ err, topic: sub.topic }, 'event handler failed'))
        .then(() => reply(responseTo(msg, new Uint8Array(0), false)));
    });
    return this.listener;
  }

  private scheduleRenewal(): void {
    if (this.renewTimer) return;
    const interval = (this.options.interval ?? 30) * 1000;
    this.renewTimer = setInterval(() => {
      for (const s of this.subs.values()) {
        this.cache.registry.register(s.record, { ttl: this.options.ttl ?? 90 }).catch((err) => this.logger.warn({ err }, 'subscription renewal failed'));
      }
    }, interval);
    this.renewTimer.unref();
  }
}
