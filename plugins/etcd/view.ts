import type { Etcd3, IKeyValue, Watcher as EtcdWatcher } from 'etcd3';
import type { Logger } from '../../lib/observe/logger';
import type { ServiceRecord, WatchAction, Watcher } from '../../lib/registry/registry';
import { QueueWatcher } from '../../lib/registry/watcher';
import { RpcError } from '../../lib/errors';
import { bounded, ERROR_ID, RETRY_FIRST_MS, RETRY_MAX_MS } from './options';
import { decodeNode, mergeVersions } from './records';

interface Entry {
  record: ServiceRecord;
  json: string;
}

/**
 * What this client knows of the registry: every node key under the prefix, kept current by a prefix watch. A sync
 * reads the whole prefix once, then watches from the revision after that read, so no change falls in between.
 * getService/listServices answer from here, which also means they keep answering, from the last view, while etcd is
 * down.
 *
 * When the watch breaks (etcd gone, the stream cancelled, a compacted revision), it is dropped, not resumed: etcd
 * may have come back with its data wiped and its revisions started again, and a watch resumed from the old revision
 * would wait for revisions that mean something else. A new sync reads the prefix again, reconciles the map against
 * it (events only for real differences), and watches from the new revision. Generations keep a dropped watch's late
 * events out, so there is never more than one watch feeding the map and watchers never see an event twice.
 *
 * Every change to the map is an event: create (a node appears), update (its record changed), delete (it left, by
 * deregister or lease expiry). A watcher that exists before the first sync sees the nodes found by it as creates.
 */
export class WatchedView {
  /** etcd key -> node; Map order is change order (a change re-inserts). */
  private readonly entries = new Map<string, Entry>();
  private readonly watchers = new Set<QueueWatcher>();
  private generation = 0;
  private watch: EtcdWatcher | undefined;
  private started = false;
  private loaded = false;
  /** The first sync (it never rejects, and is bounded by the call deadline inside). */
  private firstAttempt: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private closed = false;
  /** Set when a read failed before any succeeded: lookups then fail at once instead of each waiting a deadline. */
  private unreachable: Error | undefined;
  /** Syncs done (1 = the first; more after a broken watch); read by tests and logs. */
  syncs = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves once the view holds a first read of the prefix. The first caller waits for the first read; while etcd
   * has never answered, later callers get a 503 at once (the read is retried in the background).
   */
  async ready(): Promise<void> {
    this.start();
    if (this.loaded) return;
    if (!this.unreachable) await this.firstAttempt;
    if (this.loaded) return;
    throw new RpcError(ERROR_ID, 503, `etcd: the registry could not be read (${this.unreachable?.message ?? 'no answer'})`);
  }

  get(name: string): ServiceRecord[] {
    return mergeVersions([...this.entries.values()].filter((e) => e.record.name === name).map((e) => e.record));
  }

  list(): ServiceRecord[] {
    return mergeVersions([...this.entries.values()].map((e) => e.record));
  }

  subscribe(service: string | undefined): Watcher {
    const w = new QueueWatcher(service, (stopped) => this.watchers.delete(stopped), this.logger);
    if (this.closed) {
      w.stop();
      return w;
    }
    this.watchers.add(w);
    this.start();
    return w;
  }

  close(): void {
    this.closed = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.dropWatch();
    for (const w of [...this.watchers]) w.stop();
    this.entries.clear();
  }

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.firstAttempt = this.sync();
  }

  private async sync(): Promise<void> {
    const generation = ++this.generation;
    this.dropWatch();
    try {
      const res = await bounded('reading the registry', this.client.getAll().prefix(`${this.prefix}/`).exec(), this.timeoutMs);
      if (generation !== this.generation) return;
      this.reconcile(res.kvs);
      this.syncs++;
      this.startWatch(generation, (BigInt(res.header.revision) + BigInt(1)).toString());
      this.loaded = true;
    } catch (err) {
      if (generation !== this.generation) return;
      if (!this.loaded) this.unreachable = err as Error;
      this.logger.debug({ err: (err as Error).message }, 'etcd: registry read failed; serving the last view and retrying');
      this.retryLater();
    }
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.sync();
    }, wait);
    this.retryTimer.unref();
  }

  private startWatch(generation: number, fromRevision: string): void {
    const w = this.client.watch().prefix(`${this.prefix}/`).startRevision(fromRevision).watcher();
    this.watch = w;
    const current = () => generation === this.generation;
    w.on('put', (kv: IKeyValue) => current() && this.apply(kv.key.toString(), kv.value.toString()));
    w.on('delete', (kv: IKeyValue) => current() && this.remove(kv.key.toString()));
    w.on('connected', () => current() && (this.retryMs = RETRY_FIRST_MS));
    const broken = (err: Error | undefined) => {
      if (!current()) return;
      this.generation++;
      this.dropWatch();
      this.logger.warn({ err: err?.message }, 'etcd: registry watch broken; serving the last view until etcd answers');
      this.retryLater();
    };
    w.on('disconnected', broken);
    w.on('error', broken);
  }

  private dropWatch(): void {
    const w = this.watch;
    this.watch = undefined;
    // Not awaited: cancelling on a dead connection only resolves once the manager gives up the stream.
    if (w) w.cancel().catch(() => undefined);
  }

  /** Brings the map to exactly `kvs`, raising events only where they differ. */
  private reconcile(kvs: IKeyValue[]): void {
    const present = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      present.add(key);
      this.apply(key, kv.value.toString());
    }
    for (const key of [...this.entries.keys()]) if (!present.has(key)) this.remove(key);
  }

  private apply(key: string, json: string): void {
    const old = this.entries.get(key);
    if (old?.json === json) return;
    const record = decodeNode(json);
    if (!record) {
      this.logger.warn({ key }, 'etcd: skipping a value under the registry prefix that is not a node record');
      if (old) this.remove(key);
      return;
    }
    this.entries.delete(key);
    this.entries.set(key, { record, json });
    if (!old) return this.emit('create', record);
    if (old.record.name !== record.name || old.record.version !== record.version) {
      // The key now claims another service or version: to watchers, one node left and another arrived.
      this.emit('delete', old.record);
      return this.emit('create', record);
    }
    this.emit('update', record);
  }

  private remove(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.emit('delete', old.record);
  }

  private emit(action: WatchAction, record: ServiceRecord): void {
    for (const w of this.watchers) w.push({ action, service: structuredClone(record) });
  }
}
