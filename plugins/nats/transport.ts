import { RpcError } from '../../lib/errors';
import { silentLogger, type Logger } from '../../lib/observe/logger';
import { type ClientSocket, type DialOptions, type Listener, type ListenOptions, type RequestHandler, type Transport, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';
import { NatsRequester } from './client';
import { withDeadline } from '../../lib/deadlines';
import { NatsConnector, type NatsConnectionOptions } from './connection';
import { NatsListener } from './listener';
import { isSubject, nodeSubject } from './subjects';

/**
 * `--transport=nats`: request/reply over NATS subjects instead of sockets. A listener's address is a subject
 * (`phobos.rpc.<service>.<random>`), which is what the registry announces; dialing it costs nothing (the connection
 * is the transport's own). Streams are not carried: a stream endpoint called over NATS answers 500.
 */

export type NatsTransportOptions = Omit<NatsConnectionOptions, 'logger'> & { logger?: Logger };

export class NatsTransport implements Transport {
  readonly name = 'nats';
  private readonly conn: NatsConnector;
  private readonly requester: NatsRequester;
  private readonly listeners = new Set<NatsListener>();
  private readonly logger: Logger;

  constructor(options: NatsTransportOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.conn = new NatsConnector({ name: 'phobos-transport', ...options, logger: this.logger });
    this.requester = new NatsRequester(this.conn);
  }

  /**
   * Listens on `address` when it is a subject; a `host:port` (the server's default `127.0.0.1:0`) means "pick a
   * node subject". Resolves once NATS has the subscriptions.
   */
  async listen(address: string, handler: RequestHandler, options: ListenOptions = {}): Promise<Listener> {
    const nc = await this.conn.get();
    const subject = isSubject(address) ? address : nodeSubject(options.service);
    const listener = new NatsListener(this.conn, nc, subject, options.service, handler, options.logger ?? this.logger);
    await listener.live(nc);
    this.listeners.add(listener);
    const close = listener.close.bind(listener);
    listener.close = () => {
      this.listeners.delete(listener);
      return close();
    };
    return listener;
  }

  /** A socket for `address` (a subject). Fails with 503 when NATS cannot be reached within connectTimeout. */
  async dial(address: string, options: DialOptions = {}): Promise<ClientSocket> {
    if (!isSubject(address)) throw new RpcError(TRANSPORT_ERROR_ID, 503, `"${address}" is not a NATS subject (is the node served over another transport?)`);
    const timeout = options.connectTimeout ?? 3000;
    await withDeadline(this.requester.ready(), timeout, () => new RpcError(TRANSPORT_ERROR_ID, 503, `no NATS connection within ${timeout} ms`));
    // During an outage, fail the dial as a request would: at once.
    this.conn.requireConnected();
    return this.requester.dial(address);
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((l) => l.close()));
    await this.requester.close();
    await this.conn.close();
  }
}
