import type { DialOptions, ListenOptions, RequestHandler, Transport } from '../transport';
import { TcpClientSocket } from './client';
import { TcpListener } from './listener';
import { type TcpTransportOptions, resolveOptions } from './options';

export { TcpClientSocket } from './client';
export type { ConnectionStats } from './connection';
export { FrameError, HEADER_SIZE, VERSION as PROTOCOL_VERSION } from './frame';
export { TcpListener } from './listener';
export type { TcpTransportOptions } from './options';

/**
 * The default transport: Phobos' own binary framing over TCP (docs/protocol.md). Many requests share one connection,
 * multiplexed by request id; the options given here are defaults that each listen/dial call may override.
 */
export class TcpTransport implements Transport {
  readonly name = 'tcp';
  private readonly options: TcpTransportOptions;

  constructor(options: TcpTransportOptions = {}) {
    this.options = { ...options };
  }

  listen(address: string, handler: RequestHandler, options?: ListenOptions): Promise<TcpListener> {
    return TcpListener.listen(address, handler, resolveOptions(this.options, options));
  }

  dial(address: string, options?: DialOptions): Promise<TcpClientSocket> {
    return TcpClientSocket.dial(address, resolveOptions(this.options, options));
  }

  /** Nothing is held globally: listeners and sockets are closed by their owners. */
  async close(): Promise<void> {}
}
