import { Etcd3 } from 'etcd3';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import type { RegisterOptions, Registry, ServiceRecord, Watcher } from '../../lib/registry/registry';
import { LeasedKeys } from './leases';
import {
  bounded,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TTL,
  hostsOf,
  leaseTtl,
  nodeKey,
  normalPrefix,
  type EtcdRegistryOptions,
} from './options';
import { encodeNode } from './records';
import { WatchedView } from './view';

/**
 * The etcd registry: one key per node, `<prefix>/<service>/<node id>`, whose value is the service record holding
 * that node; the key is attached to a lease of the registration's TTL, kept alive by this client (leases.ts), so a
 * crashed process's nodes vanish when their lease runs out. Reads come from a watch-fed local view (view.ts).
 *
 * deregister() deletes the node's key at once. close() only lets go of the client: keep-alives stop, nothing is
 * revoked, so a closed client and a crashed one look the same and their entries live out their TTL (a Service
 * deregisters before closing, so a graceful stop still removes its nodes at once).
 */
export class EtcdRegistry implements Registry {
  readonly name = 'etcd';
  readonly prefix: string;
  private readonly client: Etcd3;
  private readonly view: WatchedView;
  /** TTL (s) -> the keys kept alive by that TTL's lease. */
  private readonly leases = new Map<number, LeasedKeys>();
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private closed = false;

  constructor(options: EtcdRegistryOptions = {}) {
    this.prefix = normalPrefix(options.prefix);
    this.ttl = leaseTtl(options.ttl ?? DEFAULT_TTL);
    this.timeoutMs = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
    const deadline = this.timeoutMs;
    this.client = new Etcd3({
      hosts: hostsOf(options.hosts),
      // Unary calls carry a gRPC deadline; streams (watch, keep-alive) live as long as the connection.
      defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + deadline }),
      // Notice a server that stopped answering without closing the connection (pings only while streams are open:
      // etcd refuses pings without streams and pings more often than every 5 s).
      grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
    });
    this.view = new WatchedView(this.client, this.prefix, this.timeoutMs, this.logger);
  }

  async register(service: ServiceRecord, options: RegisterOptions = {}): Promise<void> {
    this.assertOpen();
    const ttl = leaseTtl(options.ttl ?? this.ttl);
    let keeper = this.leases.get(ttl);
    if (!keeper) this.leases.set(ttl, (keeper = new LeasedKeys(this.client, ttl, this.timeoutMs, this.logger)));
    await Promise.all(
      service.nodes.map((node, i) => {
        const key = nodeKey(this.prefix, service.name, node.id);
        // Registered before with another TTL: the key moves to this TTL's lease.
        for (const other of this.leases.values()) if (other !== keeper && other.has(key)) other.forget(key);
        return keeper.put(key, encodeNode(service, i));
      }),
    );
    this.dropEmptyLeases();
  }

  async deregister(service: ServiceRecord): Promise<void> {
    this.assertOpen();
    await Promise.all(
      service.nodes.map((node) => {
        const key = nodeKey(this.prefix, service.name, node.id);
        for (const keeper of this.leases.values()) if (keeper.has(key)) keeper.forget(key);
        return bounded(`delete ${key}`, this.client.delete().key(key).exec(), this.timeoutMs);
      }),
    );
    this.dropEmptyLeases();
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    this.assertOpen();
    await this.view.ready();
    return this.view.get(name);
  }

  async listServices(): Promise<ServiceRecord[]> {
    this.assertOpen();
    await this.view.ready();
    return this.view.list();
  }

  watch(options: { service?: string } = {}): Watcher {
    return this.view.subscribe(options.service);
  }

  /** How many times a lost lease was replaced and its keys put back (all TTLs). */
  get recoveries(): number {
    let n = 0;
    for (const keeper of this.leases.values()) n += keeper.recoveries;
    return n;
  }

  /** How many times the view read the whole prefix (1 after the first read; one more per broken watch). */
  get syncs(): number {
    return this.view.syncs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.view.close();
    for (const keeper of this.leases.values()) keeper.close();
    this.leases.clear();
    this.client.close();
  }

  private dropEmptyLeases(): void {
    for (const [ttl, keeper] of this.leases) if (keeper.size === 0) this.leases.delete(ttl);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('etcd registry is closed');
  }
}
