import type { Socket } from 'node:net';
import { RpcError } from '../../errors';
import type { StreamChannel } from '../stream-channel';
import { MessageKind, type RequestHandler, TRANSPORT_ERROR_ID } from '../transport';
import { type Frame, pongFor } from './frame';
import { type ResolvedOptions, connectionOptions, formatAddress } from './options';
import { HEARTBEAT_PING, HEARTBEAT_PING_ID, Heartbeat } from './heartbeat';
import { ServingPeer } from './serving';
import { TcpStreams } from './streams';
import { writableSink } from './writer';

/** What a listener sees of one connection. */
export interface ConnectionStats {
  remote: string;
  inFlight: number;
  /** True while the server has stopped reading this connection (in-flight cap or write back-pressure). */
  paused: boolean;
  /** Reply bytes waiting to be written. */
  queuedBytes: number;
}

/**
 * The server side of one tcp connection: the frame serving of ServingPeer (in-flight cap, replies, cancels, draining)
 * over a socket, plus what only tcp carries: pings (and heartbeats), streams, and a deadline for a frame half received.
 */
export class ServerConnection extends ServingPeer<ResolvedOptions> {
  readonly remote: string;
  /** Requests answered with a stream stay in `inflight` until their stream ends. */
  private readonly streams: TcpStreams;
  /** When the current half-received frame started arriving (0: none, or we are the reason it is waiting). */
  private partialSince = 0;
  private frameTimer: NodeJS.Timeout | undefined;
  /** Pings a silent client and closes the connection when it does not answer; undefined when disabled. */
  private readonly heartbeat: Heartbeat | undefined;

  constructor(
    private readonly socket: Socket,
    handler: RequestHandler,
    opts: ResolvedOptions,
    onClose: (conn: ServerConnection) => void,
  ) {
    super(handler, opts, writableSink(socket), connectionOptions(opts, socket.remoteAddress), 'tcp transport');
    this.remote = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    this.streams = new TcpStreams(this.writer, opts.maxFrameSize, (id) => {
      if (this.inflight.delete(id) && !this.closed) this.settled();
    });
    socket.setNoDelay(true);
    this.heartbeat = Heartbeat.start(opts.heartbeatInterval, opts.heartbeatTimeout, {
      ping: () => this.writer.write(HEARTBEAT_PING, HEARTBEAT_PING_ID),
      dead: (reason) => this.fail(reason),
      paused: () => this.paused,
    });
    socket.on('data', (chunk: Buffer) => {
      this.heartbeat?.heard();
      this.received(chunk);
    });
    // A peer that ends its side is gone (no half-open RPC): the socket closes and in-flight requests are cancelled.
    socket.on('end', () => {
      if (this.reader.partial) this.fail('connection ended in the middle of a frame');
    });
    socket.on('error', (err) => opts.logger.debug({ remote: this.remote, err: err.message }, 'tcp: socket error'));
    socket.on('close', () => {
      this.heartbeat?.stop();
      if (this.frameTimer) clearTimeout(this.frameTimer);
      this.markClosed();
      this.streams.table.closeAll(new RpcError(TRANSPORT_ERROR_ID, 503, 'connection closed'));
      onClose(this);
    });
  }

  get stats(): ConnectionStats {
    const queuedBytes = this.writer.queuedBytes + this.socket.writableLength;
    return { remote: this.remote, inFlight: this.inflight.size, paused: this.paused, queuedBytes };
  }

  openStream(id: number): StreamChannel {
    if (!this.inflight.has(id)) throw new RpcError(TRANSPORT_ERROR_ID, 500, `request ${id} is not in flight`);
    if (this.isCancelled(id)) throw new RpcError(TRANSPORT_ERROR_ID, 499, 'the caller cancelled the request');
    // Open streams do not count against maxInFlight (see `full`), so they have a cap of their own.
    if (this.streams.table.size >= this.opts.maxInFlight) {
      throw new RpcError(TRANSPORT_ERROR_ID, 429, `too many open streams on this connection (${this.opts.maxInFlight})`);
    }
    return this.streams.table.open(id, 'server');
  }

  destroy(): void {
    this.socket.destroy();
  }

  fail(reason: string): void {
    if (this.closed) return;
    this.opts.logger.warn({ remote: this.remote, reason }, 'tcp transport: closing connection');
    this.closed = true;
    this.writer.close();
    this.socket.destroy();
  }

  protected end(): void {
    // Even a back-pressured queue goes to the socket now: nothing more will be written, and end() flushes it first.
    this.writer.flush(true);
    this.socket.end();
  }

  protected pauseSource(): void {
    this.socket.pause();
    // Whatever is half received is waiting on us now, not on the peer.
    this.partialSince = 0;
  }

  protected resumeSource(): void {
    this.socket.resume();
  }

  protected dispatch(f: Frame): void {
    switch (f.kind) {
      case MessageKind.request:
        return this.serve(f);
      case MessageKind.cancel:
        this.cancelInFlight(f.id);
        this.streams.table.cancelled(f.id, f.timeout);
        return;
      case MessageKind.ping:
        return this.pong(f);
      case MessageKind.pong:
        // The answer to a heartbeat ping: arriving at all was the point (see `heard` in the data handler).
        return;
      case MessageKind.data:
      case MessageKind.end:
      case MessageKind.credit:
        return this.streams.receive(f);
      default:
        // A response sent to a server makes no sense: ignored (and logged) there.
        super.dispatch(f);
    }
  }

  /**
   * At the in-flight cap the connection stops reading. Open streams are left out of the count: they need this
   * connection read (data, credit, cancel) to finish, so counting them could stall every stream on it.
   */
  protected get full(): boolean {
    return this.inflight.size - this.streams.table.size >= this.opts.maxInFlight;
  }

  protected pumped(completed: boolean): void {
    this.trackPartial(completed);
  }

  /** Answers a ping with a pong carrying the same id and body. */
  private pong(f: Frame): void {
    try {
      this.writer.write(pongFor(f, this.opts.maxFrameSize), f.id);
    } catch (err) {
      this.fail(`bad ping: ${(err as Error).message}`);
    }
  }

  /** Keeps the frame timer honest: it measures how long the peer has left a frame unfinished. */
  private trackPartial(completed: boolean): void {
    if (this.paused || this.closed || !this.reader.partial) {
      this.partialSince = 0;
      return;
    }
    if (completed || this.partialSince === 0) this.partialSince = Date.now();
    // One lazily armed timer per connection, re-armed for the remainder rather than reset on every chunk.
    if (this.frameTimer === undefined) this.armFrameTimer(this.opts.frameTimeout);
  }

  private armFrameTimer(ms: number): void {
    this.frameTimer = setTimeout(() => {
      this.frameTimer = undefined;
      if (this.partialSince === 0 || this.closed) return;
      const age = Date.now() - this.partialSince;
      if (age >= this.opts.frameTimeout) this.fail(`frame not completed within ${this.opts.frameTimeout} ms`);
      else this.armFrameTimer(this.opts.frameTimeout - age);
    }, ms);
    this.frameTimer.unref();
  }
}
