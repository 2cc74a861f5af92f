import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../../lib/observe/logger';
import { bounded, RETRY_FIRST_MS, RETRY_MAX_MS } from './options';

/**
 * The keys registered with one TTL, all attached to one etcd lease that etcd3 keeps alive (a keep-alive every third
 * of the TTL on one stream). Registering a node again re-puts its key on the same lease, so renewals never pile up
 * leases; a registry holds one of these per distinct TTL, which in practice means one.
 *
 * When the lease is lost (etcd says it is unknown, as after a restart with its data gone, or keep-alives failed for
 * twice the TTL), every key held here is put again on a fresh lease as soon as etcd answers, retrying with backoff.
 * Nothing outside has to notice or call register() again.
 */
export class LeasedKeys {
  /** key -> the JSON value last put (what a recovery puts back). */
  private readonly keys = new Map<string, string>();
  private lease: Lease | undefined;
  private granted: Promise<Lease> | undefined;
  private recovering = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** How many times the keys were put back on a fresh lease after a loss (logged; read by tests). */
  recoveries = 0;

  constructor(
    private readonly client: Etcd3,
    readonly ttl: number,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Puts `key` on this TTL's lease (granting it first if there is none). The key is held even if the put fails. */
  async put(key: string, value: string): Promise<void> {
    this.keys.set(key, value);
    const lease = await this.grant();
    await bounded(`put ${key}`, lease.put(key).value(value).exec(), this.timeoutMs);
  }

  /** Stops holding `key` (the caller deletes it from etcd). With nothing left, the lease is let go. */
  forget(key: string): void {
    this.keys.delete(key);
    if (this.keys.size === 0) this.release();
  }

  /** Stops keep-alives without revoking: the keys live out their TTL, exactly as after a crash. */
  close(): void {
    this.closed = true;
    this.release();
  }

  private release(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.recovering = false;
    this.lease?.release();
    this.lease = undefined;
    this.granted = undefined;
  }

  /** The current lease once granted; concurrent callers share one grant. */
  private grant(): Promise<Lease> {
    if (this.granted) return this.granted;
    const lease = this.client.lease(this.ttl);
    this.lease = lease;
    lease.on('lost', (err) => this.lost(lease, err));
    const granted = bounded(`granting a ${this.ttl} s lease`, lease.grant(), this.timeoutMs).then(
      () => lease,
      (err: unknown) => {
        if (this.lease === lease) {
          this.lease = undefined;
          this.granted = undefined;
        }
        lease.release();
        throw err;
      },
    );
    this.granted = granted;
    return granted;
  }

  private lost(lease: Lease, err: Error): void {
    if (lease !== this.lease || this.closed) return;
    this.lease = undefined;
    this.granted = undefined;
    if (this.keys.size === 0) return;
    this.logger.warn({ err: err.message, ttl: this.ttl, keys: this.keys.size }, 'etcd lease lost; re-registering with a fresh lease once etcd answers');
    this.recover();
  }

  /** One retry loop at a time: grant a fresh lease, put every held key back on it. */
  private recover(): void {
    if (this.recovering || this.closed) return;
    this.recovering = true;
    let wait = RETRY_FIRST_MS;
    const attempt = async (): Promise<void> => {
      this.retryTimer = undefined;
      if (this.closed || !this.recovering) return;
      if (this.keys.size === 0) {
        this.recovering = false;
        return;
      }
      try {
        const lease = await this.grant();
        for (const [key, value] of [...this.keys]) {
          // A key forgotten or re-put meanwhile is left to whoever changed it.
          if (this.keys.get(key) !== value) continue;
          await bounded(`put ${key}`, lease.put(key).value(value).exec(), this.timeoutMs);
        }
        if (lease !== this.lease) throw new Error('the fresh lease was lost while putting keys back');
        this.recovering = false;
        this.recoveries++;
        this.logger.info({ ttl: this.ttl, keys: this.keys.size }, 'etcd: re-registered with a fresh lease');
      } catch (err) {
        if (this.closed || !this.recovering) return;
        this.logger.debug({ err: (err as Error).message }, 'etcd: re-registration failed; retrying');
        wait = Math.min(wait * 2, RETRY_MAX_MS);
        this.retryTimer = setTimeout(() => void attempt(), wait).unref();
      }
    };
    this.retryTimer = setTimeout(() => void attempt(), wait).unref();
  }
}
