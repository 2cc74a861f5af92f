import { Server as GrpcServer, ServerCredentials, status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../lib/observe/logger';
import type { Listener, RequestHandler } from '../../lib/transport/transport';
import { StreamPeer } from './peer';
import { FRAMES_METHOD } from './wire';

/**
 * The server side of `--transport=grpc`: a grpc-js server with one bidi-streaming method, `/phobos.Transport/Frames`,
 * whose messages are raw bytes. Each frames call is a StreamPeer (peer.ts), the equivalent of one tcp connection.
 * close() ends idle calls at once and busy ones after their last reply; what is left after `closeGrace` is cut off.
 */

export interface GrpcListenerOptions {
  maxFrameSize: number;
  /** Requests one frames call may have in flight; past it the server stops reading that call. */
  maxInFlight: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  closeGrace: number;
  credentials?: ServerCredentials;
  logger: Logger;
}

export class GrpcListener implements Listener {
  private readonly peers = new Set<StreamPeer>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly address: string,
    private readonly server: GrpcServer,
    private readonly closeGrace: number,
    private readonly onClosed: () => void,
  ) {}

  static async start(address: string, handler: RequestHandler, options: GrpcListenerOptions, onClosed: () => void): Promise<GrpcListener> {
    const channelOptions: Record<string, number> = {
      'grpc.max_receive_message_length': options.maxFrameSize,
      'grpc.max_send_message_length': options.maxFrameSize,
    };
    if (options.heartbeatInterval > 0 && options.heartbeatTimeout > 0) {
      channelOptions['grpc.keepalive_time_ms'] = options.heartbeatInterval;
      channelOptions['grpc.keepalive_timeout_ms'] = options.heartbeatTimeout;
    }
    const server = new GrpcServer(channelOptions);
    // Calls can only arrive once bound, by which time the listener exists.
    const ref: { listener?: GrpcListener } = {};
    server.addService({ Frames: FRAMES_METHOD }, { Frames: (call: ServerDuplexStream<Buffer, Buffer>) => ref.listener!.accept(call, handler, options) });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, options.credentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    ref.listener = new GrpcListener(address.replace(/:\d+$/, `:${port}`), server, options.closeGrace, onClosed);
    return ref.listener;
  }

  private accept(call: ServerDuplexStream<Buffer, Buffer>, handler: RequestHandler, options: GrpcListenerOptions): void {
    if (this.closing) {
      call.emit('error', { code: Status.UNAVAILABLE, details: 'the listener is closing' });
      return;
    }
    const peer = new StreamPeer(call, handler, options, (p) => this.peers.delete(p));
    this.peers.add(peer);
  }

  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, this.closeGrace);
      timer.unref();
      for (const peer of [...this.peers]) peer.drain();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(this.onClosed));
  }
}
