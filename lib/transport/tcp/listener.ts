import { type Server, type Socket, createServer } from 'node:net';
import type { Listener, RequestHandler } from '../transport';
import { type ConnectionStats, ServerConnection } from './connection';
import { type ResolvedOptions, formatAddress, parseAddress } from './options';

/** A bound tcp listener. Each accepted connection is a ServerConnection; a bad one is closed on its own. */
export class TcpListener implements Listener {
  private readonly connections = new Set<ServerConnection>();
  private closing: Promise<void> | undefined;
  private allClosed: (() => void) | undefined;

  private constructor(
    private readonly server: Server,
    readonly address: string,
    private readonly opts: ResolvedOptions,
  ) {}

  static async listen(address: string, handler: RequestHandler, opts: ResolvedOptions): Promise<TcpListener> {
    const { host, port } = parseAddress(address);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host || undefined, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const actual = bound && typeof bound === 'object' ? formatAddress(bound.address, bound.port) : address;
    const listener = new TcpListener(server, actual, opts);
    server.on('connection', (socket) => listener.accept(socket, handler));
    server.on('error', (err) => opts.logger.error({ err, address: actual }, 'tcp transport: listener error'));
    return listener;
  }

  /** One entry per open connection; for metrics and tests. */
  connectionStats(): ConnectionStats[] {
    return [...this.connections].map((c) => c.stats);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private accept(socket: Socket, handler: RequestHandler): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new ServerConnection(socket, handler, this.opts, (c) => {
      this.connections.delete(c);
      if (this.connections.size === 0) this.allClosed?.();
    });
    this.connections.add(conn);
  }

  private async shutdown(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const connsClosed = new Promise<void>((resolve) => {
      if (this.connections.size === 0) resolve();
      else this.allClosed = resolve;
    });
    // Idle connections end now, busy ones after their last reply; whatever remains after the grace is destroyed.
    for (const c of this.connections) c.drain();
    const grace = setTimeout(() => {
      for (const c of this.connections) c.destroy();
    }, this.opts.closeGrace);
    grace.unref();
    await Promise.all([serverClosed, connsClosed]);
    clearTimeout(grace);
  }
}
