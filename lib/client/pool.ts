import { RpcError } from '../errors';
import { type ClientSocket, type DialOptions, TRANSPORT_ERROR_ID, type Transport } from '../transport/transport';

export interface PoolOptions {
  /** Connections per node address; calls spread over them round-robin. Default 1 (sockets are multiplexed). */
  size?: number;
  /** Passed to every dial (connect timeout, heartbeat settings...). */
  dialOptions?: DialOptions;
  /**
   * Pause before dialing an address again after a failed dial or a dead connection: `base` ms, doubled after each
   * further failure up to `max`, each pause drawn at random from its upper half. A successful connect resets it.
   */
  backoff?: { base?: number; max?: number };
  /**
   * A pooled connection died without the pool closing it (missed heartbeat, reset, server gone). `err` is the 503
   * RpcError its pending calls failed with. Meant for `selector.markAddress(address, err)`.
   */
  onDead?: (address: string, err: Error) => void;
}

/** Everything the pool knows about one address. */
interface Slot {
  readonly address: string;
  sockets: ClientSocket[];
  /** Round-robin position, per address: a shared counter would pin alternating callers to the same socket. */
  turn: number;
  dialing: Promise<ClientSocket> | undefined;
  /** Failed dials and dead connections since the last successful connect. */
  failures: number;
  /** performance.now() before which no dial to this address is tried; 0 when none is pending. */
  retryAt: number;
}

const DEFAULT_BACKOFF_BASE = 100;
const DEFAULT_BACKOFF_MAX = 5_000;
const ignore = (): void => undefined;

/**
 * Connections per node address. Sockets are multiplexed, so one is usually enough; `size` opens more for nodes that
 * take heavy traffic, and calls spread over them round-robin. Concurrent first calls share one dial; while another
 * connection is being dialed, calls keep using the ones already open.
 *
 * After a failed dial or a connection that died under us, the address is in backoff: the next dial waits (see
 * PoolOptions.backoff), and a `get()` that has no open connection to fall back on fails at once with a retryable 503,
 * so the caller's fail mode can pick another node instead of waiting for this one.
 */
export class Pool {
  private readonly slots = new Map<string, Slot>();
  private readonly size: number;
  private readonly dialOptions: DialOptions;
  private readonly backoffBase: number;
  private readonly backoffMax: number;
  private readonly onDead: ((address: string, err: Error) => void) | undefined;
  private closed = false;

  /** `new Pool(transport, options)`; the older `new Pool(transport, size, dialOptions)` still works. */
  constructor(
    private readonly transport: Transport,
    o: PoolOptions = {},
  ) {
    this.size = Math.max(1, o.size ?? 1);
    this.dialOptions = o.dialOptions ?? {};
    this.backoffBase = Math.max(1, o.backoff?.base ?? DEFAULT_BACKOFF_BASE);
    this.backoffMax = Math.max(this.backoffBase, o.backoff?.max ?? DEFAULT_BACKOFF_MAX);
    this.onDead = o.onDead;
  }

  /** A live socket to `address`, dialing when the pool for it is not full. Sync when one is ready. */
  get(address: string): ClientSocket | Promise<ClientSocket> {
    const slot = this.slots.get(address);
    if (slot) {
      let live = slot.sockets.length;
      for (let i = 0; i < live; i++) {
        if (slot.sockets[i].closed) {
          live = this.prune(slot);
          break;
        }
      }
      if (live >= this.size) return slot.sockets[slot.turn++ % live];
      if (live > 0) {
        // Fill the pool in the background and meanwhile keep using what is open rather than waiting.
        this.dial(slot).catch(ignore);
        return slot.sockets[slot.turn++ % live];
      }
      return this.dial(slot);
    }
    if (this.closed) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 503, 'connection pool is closed'));
    const fresh: Slot = { address, sockets: [], turn: 0, dialing: undefined, failures: 0, retryAt: 0 };
    this.slots.set(address, fresh);
    return this.dial(fresh);
  }

  /** Open sockets to `address` (for metrics and tests). */
  connections(address: string): readonly ClientSocket[] {
    return this.slots.get(address)?.sockets ?? [];
  }

  /** Closes every pooled socket; dials still in flight close their socket as soon as it connects. */
  close(): void {
    this.closed = true;
    const slots = [...this.slots.values()];
    this.slots.clear();
    for (const slot of slots) for (const s of slot.sockets.splice(0)) s.close();
  }

  /** The dial in flight for `slot`, a new one, or a fast 503 while the address is in backoff. */
  private dial(slot: Slot): Promise<ClientSocket> {
    if (slot.dialing) return slot.dialing;
    if (this.closed) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 503, 'connection pool is closed'));
    const wait = slot.retryAt - performance.now();
    if (wait > 0) {
      return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 503, `reconnecting to ${slot.address} in ${Math.ceil(wait)} ms`));
    }
    const pending = this.transport.dial(slot.address, this.dialOptions).then(
      (socket) => this.connected(slot, socket),
      (err: unknown) => {
        slot.dialing = undefined;
        if (!this.closed) this.backOff(slot);
        throw err;
      },
    );
    slot.dialing = pending;
    return pending;
  }

  private connected(slot: Slot, socket: ClientSocket): ClientSocket {
    slot.dialing = undefined;
    if (this.closed) {
      socket.close();
      throw new RpcError(TRANSPORT_ERROR_ID, 503, 'connection pool is closed');
    }
    slot.failures = 0;
    slot.retryAt = 0;
    slot.sockets.push(socket);
    socket.onClose?.((err) => this.lost(slot, socket, err));
    return socket;
  }

  /** A pooled socket closed; unless we closed it, it died: back off from its address and report it. */
  private lost(slot: Slot, socket: ClientSocket, err: Error | undefined): void {
    const i = slot.sockets.indexOf(socket);
    if (i >= 0) slot.sockets.splice(i, 1);
    if (!err || this.closed) return;
    this.backOff(slot);
    this.onDead?.(slot.address, err);
  }

  /** Drops closed sockets; only sockets without `onClose` get here (the others leave through `lost`). */
  private prune(slot: Slot): number {
    const dead = slot.sockets.filter((s) => s.closed);
    slot.sockets = slot.sockets.filter((s) => !s.closed);
    for (const s of dead) {
      // Any of ours that closed without telling us were not closed by us: the pool only closes sockets in close().
      if (!s.onClose) this.lost(slot, s, new RpcError(TRANSPORT_ERROR_ID, 503, `connection to ${slot.address} closed`));
    }
    return slot.sockets.length;
  }

  private backOff(slot: Slot): void {
    slot.failures++;
    const ceiling = Math.min(this.backoffMax, this.backoffBase * 2 ** Math.min(slot.failures - 1, 30));
    // From the upper half: spread out (many clients must not come back in lockstep), but never next to nothing.
    slot.retryAt = performance.now() + ceiling * (0.5 + Math.random() / 2);
  }
}
