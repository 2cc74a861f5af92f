import type { Socket } from 'node:net';
import { RpcError } from '../../errors';
import type { StreamChannel } from '../stream-channel';
import { type Message, MessageKind, type PeerInfo, type RequestHandler, TRANSPORT_ERROR_ID } from '../transport';
import { type Frame, FrameError, inflateInPlace, pongFor } from './frame';
import { errorResponse } from '../error-response';
import { type ResolvedOptions, connectionOptions, formatAddress } from './options';
import { HEARTBEAT_PING, HEARTBEAT_PING_ID, Heartbeat } from './heartbeat';
import { FrameReader } from './reader';
import { TcpStreams } from './streams';
import { FrameWriter } from './writer';

/** Marks a request whose caller cancelled before the handler registered a callback: a later onCancel runs at once. */
const CANCELLED = 1;
type CancelSlot = (() => void) | typeof CANCELLED | undefined;

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
 * The server side of one tcp connection: reads request frames, hands them to the handler, writes replies. It stops
 * reading (and stops dispatching frames already buffered) while the connection is at its in-flight cap or its replies
 * are not being read fast enough, and resumes when both clear.
 */
export class ServerConnection implements PeerInfo {
  readonly remote: string;
  /** Requests dispatched and not yet replied to, with their cancel callbacks. */
  private readonly inflight = new Map<number, CancelSlot>();
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  /** Requests answered with a stream stay in `inflight` until their stream ends. */
  private readonly streams: TcpStreams;
  private paused = false;
  private pumping = false;
  private closed = false;
  /** Set by the listener's close: new requests are refused, and the connection ends once idle. */
  private draining = false;
  /** When the current half-received frame started arriving (0: none, or we are the reason it is waiting). */
  private partialSince = 0;
  private frameTimer: NodeJS.Timeout | undefined;
  /** Pings a silent client and closes the connection when it does not answer; undefined when disabled. */
  private readonly heartbeat: Heartbeat | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly handler: RequestHandler,
    private readonly opts: ResolvedOptions,
    onClose: (conn: ServerConnection) => void,
  ) {
    this.remote = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    this.reader = new FrameReader(opts.maxFrameSize);
    this.writer = new FrameWriter(socket, connectionOptions(opts, socket.remoteAddress), () => this.maybeResume());
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
      this.reader.push(chunk);
      this.pump();
    });
    // A peer that ends its side is gone (no half-open RPC): the socket closes and in-flight requests are cancelled.
    socket.on('end', () => {
      if (this.reader.partial) this.fail('connection ended in the middle of a frame');
    });
    socket.on('error', (err) => opts.logger.debug({ remote: this.remote, err: err.message }, 'tcp: socket error'));
    socket.on('close', () => {
      this.closed = true;
      this.writer.close();
      this.heartbeat?.stop();
      if (this.frameTimer) clearTimeout(this.frameTimer);
      this.cancelAll();
      this.streams.table.closeAll(new RpcError(TRANSPORT_ERROR_ID, 503, 'connection closed'));
      onClose(this);
    });
  }

  get stats(): ConnectionStats {
    return { remote: this.remote, inFlight: this.inflight.size, paused: this.paused, queuedBytes: this.writer.queuedBytes };
  }

  onCancel(id: number, cb: () => void): void {
    const slot = this.inflight.get(id);
    if (slot === CANCELLED) this.runCancel(cb);
    else if (this.inflight.has(id)) this.inflight.set(id, cb);
  }

  clearCancel(id: number): void {
    if (this.inflight.get(id) !== undefined) this.inflight.set(id, undefined);
  }

  openStream(id: number): StreamChannel {
    if (!this.inflight.has(id)) throw new RpcError(TRANSPORT_ERROR_ID, 500, `request ${id} is not in flight`);
    if (this.inflight.get(id) === CANCELLED) throw new RpcError(TRANSPORT_ERROR_ID, 499, 'the caller cancelled the request');
    // Open streams do not count against maxInFlight (see `full`), so they have a cap of their own.
    if (this.streams.table.size >= this.opts.maxInFlight) {
      throw new RpcError(TRANSPORT_ERROR_ID, 429, `too many open streams on this connection (${this.opts.maxInFlight})`);
    }
    return this.streams.table.open(id, 'server');
  }

  /** Listener close: refuse new work, end now if idle, otherwise once the last reply is out. */
  drain(): void {
    this.draining = true;
    if (this.inflight.size === 0) this.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes this connection because of a protocol problem; only this connection is affected. */
  fail(reason: string): void {
    if (this.closed) return;
    this.opts.logger.warn({ remote: this.remote, reason }, 'tcp transport: closing connection');
    this.closed = true;
    this.writer.close();
    this.socket.destroy();
  }

  private end(): void {
    // Even a back-pressured queue goes to the socket now: nothing more will be written, and end() flushes it first.
    this.writer.flush(true);
    this.socket.end();
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    let completed = false;
    try {
      while (!this.closed) {
        if (this.full || this.writer.congested) {
          this.pause();
          break;
        }
        const frame = this.reader.next();
        if (frame === null) break;
        completed = true;
        this.dispatch(frame);
      }
    } catch (err) {
      if (err instanceof FrameError) {
        this.fail(err.reason);
      } else {
        // A bug here must cost this one connection, not the process and every other client with it.
        this.opts.logger.error({ remote: this.remote, err }, 'tcp transport: failed to process a frame');
        this.fail(`internal error: ${(err as Error).message}`);
      }
    } finally {
      this.pumping = false;
    }
    this.trackPartial(completed);
  }

  private dispatch(f: Frame): void {
    switch (f.kind) {
      case MessageKind.request:
        return this.request(f);
      case MessageKind.cancel: {
        const slot = this.inflight.get(f.id);
        if (typeof slot === 'function') this.runCancel(slot);
        if (this.inflight.has(f.id)) this.inflight.set(f.id, CANCELLED);
        this.streams.table.cancelled(f.id, f.timeout);
        return;
      }
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
        // A response sent to a server makes no sense: ignore it.
        this.opts.logger.debug({ remote: this.remote, kind: f.kind }, 'tcp: ignoring unexpected frame');
    }
  }

  private request(f: Frame): void {
    const id = f.id;
    if (this.inflight.has(id)) return this.fail(`duplicate request id ${id}`);
    this.inflight.set(id, undefined);
    if (this.draining) return this.send(id, errorResponse(f, 503, 'server is shutting down'));
    const refused = inflateInPlace(f, this.opts.maxFrameSize);
    if (refused) {
      this.opts.logger.warn({ remote: this.remote, reason: refused.reason, id }, 'tcp transport: refusing request body');
      return this.send(id, errorResponse(f, refused.code, refused.reason));
    }
    try {
      this.handler(f, (res) => this.send(id, res), this);
    } catch (err) {
      // A handler must reply through `reply`; one that throws would otherwise leave the caller waiting.
      this.opts.logger.error({ remote: this.remote, err }, 'tcp transport: request handler threw');
      this.send(id, errorResponse(f, 500, 'request handler failed'));
    }
  }

  /** Answers a ping with a pong carrying the same id and body. */
  private pong(f: Frame): void {
    try {
      this.writer.write(pongFor(f, this.opts.maxFrameSize), f.id);
    } catch (err) {
      this.fail(`bad ping: ${(err as Error).message}`);
    }
  }

  /** Sends the one reply for request `id`; later replies for the same id are dropped. */
  private send(id: number, res: Message): void {
    if (!this.inflight.delete(id) || this.closed) return;
    try {
      this.writer.write(res, id);
    } catch (err) {
      const e = err as FrameError;
      this.opts.logger.warn({ remote: this.remote, reason: e.message, id }, 'tcp transport: reply not sendable');
      this.writer.write(errorResponse(res, e.code || 500, `reply not sendable: ${e.message}`), id);
    }
    this.settled();
  }

  /** A request was answered (or its stream ended): end a draining connection once idle, else maybe read again. */
  private settled(): void {
    if (this.draining && this.inflight.size === 0) this.end();
    else this.maybeResume();
  }

  /**
   * At the in-flight cap the connection stops reading. Open streams are left out of the count: they need this
   * connection read (data, credit, cancel) to finish, so counting them could stall every stream on it.
   */
  private get full(): boolean {
    return this.inflight.size - this.streams.table.size >= this.opts.maxInFlight;
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    // Whatever is half received is waiting on us now, not on the peer.
    this.partialSince = 0;
  }

  private maybeResume(): void {
    if (!this.paused || this.closed) return;
    if (this.full || this.writer.congested) return;
    this.paused = false;
    this.socket.resume();
    this.pump();
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

  private runCancel(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      // A failing cancel callback must not stop the others.
      this.opts.logger.error({ remote: this.remote, err }, 'tcp transport: cancel callback threw');
    }
  }

  private cancelAll(): void {
    for (const slot of this.inflight.values()) if (typeof slot === 'function') this.runCancel(slot);
    this.inflight.clear();
  }
}
