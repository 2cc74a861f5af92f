import { status as Status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../lib/observe/logger';
import { errorResponse } from '../../lib/transport/error-response';
import { type Frame, FrameError, inflateInPlace } from '../../lib/transport/tcp/frame';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { type Message, MessageKind, type PeerInfo, type RequestHandler } from '../../lib/transport/transport';
import { FrameSender } from './wire';

/**
 * The server side of one frames call (one client socket): reads request and cancel frames, hands requests to the
 * handler, writes replies. Like a tcp connection it stops reading (gRPC flow control then pushes back on the client)
 * while `maxInFlight` requests are being served or its replies are not being taken, and resumes when both clear. A
 * broken frame ends this call with INVALID_ARGUMENT and cancels what it had in flight; other calls are untouched.
 */

export interface StreamPeerOptions {
  maxFrameSize: number;
  maxInFlight: number;
  logger: Logger;
}

/** Marks a request whose caller cancelled before the handler registered a callback: a later onCancel runs at once. */
const CANCELLED = 1;
type CancelSlot = (() => void) | typeof CANCELLED | undefined;

export class StreamPeer implements PeerInfo {
  readonly remote: string;
  private readonly inflight = new Map<number, CancelSlot>();
  private readonly reader: FrameReader;
  private readonly sender: FrameSender;
  private paused = false;
  private pumping = false;
  private closed = false;
  /** Set by the listener's close: new requests are refused, and the call ends once idle. */
  private draining = false;

  constructor(
    private readonly call: ServerDuplexStream<Buffer, Buffer>,
    private readonly handler: RequestHandler,
    private readonly opts: StreamPeerOptions,
    private readonly onClose: (peer: StreamPeer) => void,
  ) {
    this.remote = call.getPeer();
    this.reader = new FrameReader(opts.maxFrameSize);
    this.sender = new FrameSender(call, opts.maxFrameSize, () => this.maybeResume());
    call.on('data', (message: Buffer) => {
      this.reader.push(message);
      this.pump();
    });
    // The caller half-closed: it sends nothing more, and nobody reads what we would answer (no half-open RPC).
    call.on('end', () => this.finish(Status.OK, undefined));
    // Cancelled by the client (socket closed), the connection lost, or the server shut down hard.
    call.on('cancelled', () => this.closedUnder());
    call.on('error', (err) => opts.logger.debug({ remote: this.remote, err: (err as Error).message }, 'grpc transport: call error'));
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  onCancel(id: number, cb: () => void): void {
    const slot = this.inflight.get(id);
    if (slot === CANCELLED) this.runCancel(cb);
    else if (this.inflight.has(id)) this.inflight.set(id, cb);
  }

  clearCancel(id: number): void {
    if (this.inflight.get(id) !== undefined) this.inflight.set(id, undefined);
  }

  /** Listener close: refuse new work, end now if idle, otherwise once the last reply is out. */
  drain(): void {
    this.draining = true;
    if (this.inflight.size === 0) this.finish(Status.OK, undefined);
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        if (this.inflight.size >= this.opts.maxInFlight || this.sender.congested) {
          this.pause();
          break;
        }
        const frame = this.reader.next();
        if (frame === null) break;
        this.dispatch(frame);
      }
    } catch (err) {
      const reason = err instanceof FrameError ? err.reason : `internal error: ${(err as Error).message}`;
      if (!(err instanceof FrameError)) this.opts.logger.error({ remote: this.remote, err }, 'grpc transport: failed to process a frame');
      this.fail(reason);
    } finally {
      this.pumping = false;
    }
  }

  private dispatch(f: Frame): void {
    if (f.kind === MessageKind.request) return this.request(f);
    if (f.kind === MessageKind.cancel) {
      const slot = this.inflight.get(f.id);
      if (typeof slot === 'function') this.runCancel(slot);
      if (this.inflight.has(f.id)) this.inflight.set(f.id, CANCELLED);
      return;
    }
    // Pings (HTTP/2 keepalive does that here), stream frames (not carried), responses: ignored, as over tcp.
    this.opts.logger.debug({ remote: this.remote, kind: f.kind }, 'grpc transport: ignoring unexpected frame');
  }

  private request(f: Frame): void {
    const id = f.id;
    if (this.inflight.has(id)) return this.fail(`duplicate request id ${id}`);
    this.inflight.set(id, undefined);
    if (this.draining) return this.send(id, errorResponse(f, 503, 'server is shutting down'));
    const refused = inflateInPlace(f, this.opts.maxFrameSize);
    if (refused) return this.send(id, errorResponse(f, refused.code, refused.reason));
    try {
      this.handler(f, (res) => this.send(id, res), this);
    } catch (err) {
      // A handler must reply through `reply`; one that throws would otherwise leave the caller waiting.
      this.opts.logger.error({ remote: this.remote, err }, 'grpc transport: request handler threw');
      this.send(id, errorResponse(f, 500, 'request handler failed'));
    }
  }

  /** Sends the one reply for request `id`; later replies for the same id are dropped. */
  private send(id: number, res: Message): void {
    if (!this.inflight.delete(id) || this.closed) return;
    try {
      this.sender.write(res, id);
    } catch (err) {
      const e = err as FrameError;
      this.opts.logger.warn({ remote: this.remote, reason: e.message, id }, 'grpc transport: reply not sendable');
      this.sender.write(errorResponse(res, e.code || 500, `reply not sendable: ${e.message}`), id);
    }
    if (this.draining && this.inflight.size === 0) this.finish(Status.OK, undefined);
    else this.maybeResume();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.call.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.closed) return;
    if (this.inflight.size >= this.opts.maxInFlight || this.sender.congested) return;
    this.paused = false;
    this.call.resume();
    this.pump();
  }

  /** A protocol error: this call ends with INVALID_ARGUMENT, its requests are cancelled. */
  private fail(reason: string): void {
    if (this.closed) return;
    this.opts.logger.warn({ remote: this.remote, reason }, 'grpc transport: closing the frames call');
    this.finish(Status.INVALID_ARGUMENT, `bad Phobos frame: ${reason}`);
  }

  /** Ends the call with `code` (replies already queued go first) and cancels whatever is still in flight. */
  private finish(code: Status, details: string | undefined): void {
    if (this.closed) return;
    // Even a back-pressured queue goes to the call now: nothing more will be written, and ending flushes it first.
    this.sender.flush(true);
    this.closedUnder();
    if (code === Status.OK) this.call.end();
    else this.call.emit('error', { code, details });
  }

  /** The call is over: run the cancel callbacks of requests still in flight, once. */
  private closedUnder(): void {
    if (this.closed) return;
    this.closed = true;
    this.sender.close();
    for (const slot of this.inflight.values()) if (typeof slot === 'function') this.runCancel(slot);
    this.inflight.clear();
    this.onClose(this);
  }

  private runCancel(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      // A failing cancel callback must not stop the others.
      this.opts.logger.error({ remote: this.remote, err }, 'grpc transport: cancel callback threw');
    }
  }
}
