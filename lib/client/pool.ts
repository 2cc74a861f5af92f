import type { ClientSocket, DialOptions, Transport } from '../transport/transport';

/**
 * Connections per node address. Sockets are multiplexed, so one is usually enough; `size` opens more for nodes that
 * take heavy traffic, and calls spread over them round-robin. Concurrent first calls share one dial; a closed socket
 * is replaced on next use.
 */
export class Pool {
  private readonly sockets = new Map<string, ClientSocket[]>();
  private readonly dialing = new Map<string, Promise<ClientSocket>>();
  private turn = 0;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly size = 1,
    private readonly dialOptions: DialOptions = {},
  ) {}

  /** A live socket to `address`, dialing when the pool for it is not full. Sync when one is ready. */
  get(address: string): ClientSocket | Promise<ClientSocket> {
    let list = this.sockets.get(address);
    if (list) {
      if (list.length && list.some((s) => s.closed)) list = this.prune(address, list);
      if (list.length >= this.size) return list[this.turn++ % list.length];
    }
    return this.dial(address, list?.[0]);
  }

  private dial(address: string, fallback: ClientSocket | undefined): Promise<ClientSocket> {
    let pending = this.dialing.get(address);
    if (!pending) {
      pending = this.transport.dial(address, this.dialOptions).then(
        (socket) => {
          this.dialing.delete(address);
          if (this.closed) {
            socket.close();
            return socket;
          }
          const list = this.sockets.get(address) ?? [];
          list.push(socket);
          this.sockets.set(address, list);
          return socket;
        },
        (err) => {
          this.dialing.delete(address);
          throw err;
        },
      );
      this.dialing.set(address, pending);
    }
    // While a second connection dials, keep using the first one rather than waiting.
    return fallback && !fallback.closed ? Promise.resolve(fallback) : pending;
  }

  private prune(address: string, list: ClientSocket[]): ClientSocket[] {
    const live = list.filter((s) => !s.closed);
    if (live.length) this.sockets.set(address, live);
    else this.sockets.delete(address);
    return live;
  }

  close(): void {
    this.closed = true;
    for (const list of this.sockets.values()) for (const s of list) s.close();
    this.sockets.clear();
  }
}
