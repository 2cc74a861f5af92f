import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import { type Logger, silentLogger } from '../../lib/observe/logger';
import type { ClientSocket, DialOptions, Listener, ListenOptions, RequestHandler, Transport } from '../../lib/transport/transport';
import { GrpcListener } from './listener';
import { GrpcSocket } from './socket';

/**
 * `--transport=grpc`: Phobos frames over HTTP/2 with grpc-js, multiplexed on one bidi-streaming call per connection
 * (wire mapping in wire.ts and docs/protocol.md §15). Any Phobos codec rides on it; addresses are plain `host:port`
 * like tcp. Streaming endpoints are not carried: called over grpc they answer 500 ("this transport cannot carry
 * streams"), as over nats.
 */

export interface GrpcTransportOptions {
  /** Largest message accepted or sent, in bytes. Default 4 MiB. */
  maxFrameSize?: number;
  /** Requests in flight per connection; past it the server stops reading that connection until replies go out. Default 1024. */
  maxInFlight?: number;
  /** Time to establish a connection before dial fails with 503 (ms). Default 3 s. */
  connectTimeout?: number;
  /** HTTP/2 keepalive ping after this long (ms), both sides. Default 5 s; 0 disables. */
  heartbeatInterval?: number;
  /** A ping unanswered for this long closes the connection (ms). Default 5 s. */
  heartbeatTimeout?: number;
  /** Listener.close cuts calls still running after this long (ms). Default 1 s. */
  closeGrace?: number;
  /** TLS: server credentials for listeners, channel credentials for dials. Plaintext HTTP/2 by default. */
  serverCredentials?: ServerCredentials;
  channelCredentials?: ChannelCredentials;
  logger?: Logger;
}

export class GrpcTransport implements Transport {
  readonly name = 'grpc';
  private readonly listeners = new Set<GrpcListener>();
  private readonly sockets = new Set<GrpcSocket>();

  constructor(private readonly options: GrpcTransportOptions = {}) {}

  async listen(address: string, handler: RequestHandler, options: ListenOptions = {}): Promise<Listener> {
    const o = this.options;
    const listener = await GrpcListener.start(
      address,
      handler,
      {
        maxFrameSize: options.maxFrameSize ?? o.maxFrameSize ?? 4 * 1024 * 1024,
        maxInFlight: options.maxInFlight ?? o.maxInFlight ?? 1024,
        heartbeatInterval: options.heartbeatInterval ?? o.heartbeatInterval ?? 5000,
        heartbeatTimeout: options.heartbeatTimeout ?? o.heartbeatTimeout ?? 5000,
        closeGrace: options.closeGrace ?? o.closeGrace ?? 1000,
        credentials: o.serverCredentials,
        logger: options.logger ?? o.logger ?? silentLogger,
      },
      () => this.listeners.delete(listener),
    );
    this.listeners.add(listener);
    return listener;
  }

  async dial(address: string, options: DialOptions = {}): Promise<ClientSocket> {
    const o = this.options;
    const socket = await GrpcSocket.connect(address, {
      connectTimeout: options.connectTimeout ?? o.connectTimeout ?? 3000,
      maxFrameSize: options.maxFrameSize ?? o.maxFrameSize ?? 4 * 1024 * 1024,
      heartbeatInterval: options.heartbeatInterval ?? o.heartbeatInterval ?? 5000,
      heartbeatTimeout: options.heartbeatTimeout ?? o.heartbeatTimeout ?? 5000,
      credentials: o.channelCredentials,
    });
    this.sockets.add(socket);
    socket.onClose(() => this.sockets.delete(socket));
    return socket;
  }

  async close(): Promise<void> {
    for (const s of [...this.sockets]) s.close();
    await Promise.all([...this.listeners].map((l) => l.close()));
  }
}
