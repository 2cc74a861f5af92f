import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import { ServingPeer, type ServingOptions } from '../../lib/transport/tcp/serving';
import type { RequestHandler } from '../../lib/transport/transport';
import { frameLimits, messageSink } from './wire';

/**
 * The server side of one frames call (one client socket): the frame serving a tcp connection does (ServingPeer: the
 * in-flight cap, replies, cancels, draining), over the call's messages. Stopping to read the call lets gRPC flow
 * control push back on the client. A broken frame ends this call with INVALID_ARGUMENT and cancels what it had in
 * flight; other calls are untouched. Pings (HTTP/2 keepalive does that here) and stream frames are not carried: they
 * are ignored, as over tcp a frame a server does not expect is.
 */

export type StreamPeerOptions = ServingOptions;

export class StreamPeer extends ServingPeer {
  readonly remote: string;

  constructor(
    private readonly call: ServerDuplexStream<Buffer, Buffer>,
    handler: RequestHandler,
    opts: StreamPeerOptions,
    private readonly onClose: (peer: StreamPeer) => void,
  ) {
    super(handler, opts, messageSink(call, opts.maxFrameSize), frameLimits(opts.maxFrameSize), 'grpc transport');
    this.remote = call.getPeer();
    call.on('data', (message: Buffer) => this.received(message));
    // The caller half-closed: it sends nothing more, and nobody reads what we would answer (no half-open RPC).
    call.on('end', () => this.finish(Status.OK, undefined));
    // Cancelled by the client (socket closed), the connection lost, or the server shut down hard.
    call.on('cancelled', () => this.closedUnder());
    call.on('error', (err) => opts.logger.debug({ remote: this.remote, err: (err as Error).message }, 'grpc transport: call error'));
  }

  /** A protocol error: this call ends with INVALID_ARGUMENT, its requests are cancelled. */
  fail(reason: string): void {
    if (this.closed) return;
    this.opts.logger.warn({ remote: this.remote, reason }, 'grpc transport: closing the frames call');
    this.finish(Status.INVALID_ARGUMENT, `bad Phobos frame: ${reason}`);
  }

  protected end(): void {
    this.finish(Status.OK, undefined);
  }

  protected pauseSource(): void {
    this.call.pause();
  }

  protected resumeSource(): void {
    this.call.resume();
  }

  /** Ends the call with `code` (replies already queued go first) and cancels whatever is still in flight. */
  private finish(code: Status, details: string | undefined): void {
    if (this.closed) return;
    // Even a back-pressured queue goes to the call now: nothing more will be written, and ending flushes it first.
    this.writer.flush(true);
    this.closedUnder();
    if (code === Status.OK) this.call.end();
    else this.call.emit('error', { code, details });
  }

  /** The call is over: run the cancel callbacks of requests still in flight, once. */
  private closedUnder(): void {
    if (this.closed) return;
    this.markClosed();
    this.onClose(this);
  }
}
