import { Server as GrpcServer, ServerCredentials, status as Status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../../lib/observe/logger';
import type { Listener, Message, PeerInfo, RequestHandler } from '../../lib/transport/transport';
import { remaining } from './status';
import { asBuffer, CALL_PATH, passThrough, readRequest, responseHeaders } from './wire';

/**
 * The server side of `--transport=grpc`: a grpc-js server with one generic method, `/phobos.Transport/Call`, whose
 * request and response are raw bytes. Each call becomes a request frame for the Phobos handler; its reply goes back
 * as response headers plus the body. The caller's cancel (or its deadline) reaches the handler as a cancel.
 */

export interface GrpcListenerOptions {
  maxFrameSize: number;
  /** HTTP/2 concurrent streams per connection: the in-flight cap. */
  maxInFlight: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  closeGrace: number;
  credentials?: ServerCredentials;
  logger: Logger;
}

export class GrpcListener implements Listener {
  private closing: Promise<void> | undefined;
  private seq = 0;

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
      'grpc.max_concurrent_streams': options.maxInFlight,
    };
    if (options.heartbeatInterval > 0 && options.heartbeatTimeout > 0) {
      channelOptions['grpc.keepalive_time_ms'] = options.heartbeatInterval;
      channelOptions['grpc.keepalive_timeout_ms'] = options.heartbeatTimeout;
    }
    const server = new GrpcServer(channelOptions);
    // Calls can only arrive once bound, by which time the listener exists.
    const ref: { listener?: GrpcListener } = {};
    server.addService(
      { Call: { path: CALL_PATH, requestStream: false, responseStream: false, requestSerialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough, responseDeserialize: passThrough } },
      { Call: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => ref.listener!.serve(handler, options.logger, call, callback) },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, options.credentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    ref.listener = new GrpcListener(address.replace(/:\d+$/, `:${port}`), server, options.closeGrace, onClosed);
    return ref.listener;
  }

  private serve(handler: RequestHandler, logger: Logger, call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    const id = (this.seq = (this.seq + 1) >>> 0);
    const left = remaining(call.getDeadline());
    let msg: Message;
    try {
      msg = readRequest(call.metadata, call.request, id, Number.isFinite(left) ? Math.max(1, Math.floor(left)) : 0);
    } catch (err) {
      logger.warn({ peer: call.getPeer(), err: (err as Error).message }, 'grpc transport: bad request headers');
      callback({ code: Status.INVALID_ARGUMENT, details: `bad Phobos request: ${(err as Error).message}` });
      return;
    }
    let cancel: (() => void) | undefined;
    let answered = false;
    const peer: PeerInfo = {
      remote: call.getPeer(),
      onCancel: (_id, cb) => (cancel = cb),
      clearCancel: () => (cancel = undefined),
    };
    call.on('cancelled', () => {
      const cb = cancel;
      cancel = undefined;
      cb?.();
    });
    handler(
      msg,
      (res) => {
        if (answered || call.cancelled) return;
        answered = true;
        call.sendMetadata(responseHeaders(res));
        callback(null, asBuffer(res.body));
      },
      peer,
    );
  }

  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, this.closeGrace);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }).then(this.onClosed));
  }
}
