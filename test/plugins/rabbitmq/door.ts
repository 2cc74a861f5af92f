import { connect, createServer, type Server, type Socket } from 'node:net';
import { ENGINE_PORTS, freePort } from '../../helpers/engines';

/**
 * A loopback port in front of the shared RabbitMQ node, for faults that must not touch the shared node itself:
 * closed until open() ("the server is not there yet"), then forwarding every connection; freeze() makes the
 * connections already made a black hole (a network path that silently stopped carrying bytes) while new ones go
 * through. Not a mock: the bytes that pass are RabbitMQ's own.
 */
export class Door {
  private static readonly all: Door[] = [];
  private server: Server | undefined;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();

  private constructor(readonly port: number) {}

  static async make(): Promise<Door> {
    const door = new Door(await freePort());
    Door.all.push(door);
    return door;
  }

  static async closeAll(): Promise<void> {
    await Promise.all(Door.all.splice(0).map((d) => d.close()));
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  open(): Promise<void> {
    const server = createServer((client) => {
      const pair = { client, upstream: connect(ENGINE_PORTS.rabbitmq, '127.0.0.1'), frozen: false };
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) => from.on('data', (chunk: Buffer) => void (pair.frozen || to.write(chunk)));
      forward(client, pair.upstream);
      forward(pair.upstream, client);
      for (const s of [client, pair.upstream]) {
        s.on('error', () => undefined);
        s.on('close', () => {
          this.pairs.delete(pair);
          client.destroy();
          pair.upstream.destroy();
        });
      }
    });
    this.server = server;
    return new Promise((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
  }

  /** Connections made so far carry nothing more, either way, and stay open: only a heartbeat can tell. */
  freeze(): number {
    for (const p of this.pairs) p.frozen = true;
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
