import { type Socket, connect } from 'node:net';
import { RpcError } from '../../errors';
import { type PendingCall, PendingRequests, refuseEarly } from '../pending';
import type { StreamChannel } from '../stream-channel';
import { type ClientSocket, type Message, MessageKind, type RequestOptions } from '../transport';
import { type Frame, FrameError, inflateInPlace, pongFor } from './frame';
import { HEARTBEAT_PING, HEARTBEAT_PING_ID, Heartbeat } from './heartbeat';
import { type ResolvedOptions, TRANSPORT_ERROR_ID, connectionOptions, formatAddress, parseAddress } from './options';
import { FrameReader } from './reader';
import { TcpStreams } from './streams';
import { FrameWriter, writableSink } from './writer';

const unavailable = (detail: string) => new RpcError(TRANSPORT_ERROR_ID, 503, detail);

/**
 * The client side of one tcp connection. Requests are multiplexed by id and their responses may arrive in any order.
 * A request that times out or is aborted is failed at once and a cancel frame tells the server to stop working on it;
 * a connection that closes fails everything pending with 503.
 */
export class TcpClientSocket implements ClientSocket {
  /** Requests waiting for their responses; one that times out or is aborted is cancelled on the server. */
  private readonly pending = new PendingRequests<number>({
    // The cancel says why (docs/protocol.md §7): 408 when the caller's deadline passed, 0 otherwise.
    abandoned: (id, err) => {
      if (!this.isClosed) this.writer.control(MessageKind.cancel, id, err.code === 408 ? 408 : 0);
    },
  });
  private readonly pings = new Map<number, { done(): void; fail(e: Error): void }>();
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  /** Calls answered with a stream, and calls whose request is a stream. */
  private readonly streams: TcpStreams;
  private nextId = 0;
  private isClosed = false;
  private closeReason = 'connection closed';
  /** Pings the server when the connection has been silent; undefined when heartbeats are disabled. */
  private readonly heartbeat: Heartbeat | undefined;
  /** onClose listeners, and what they are told: undefined when we closed the connection ourselves. */
  private closeListeners: ((err: Error | undefined) => void)[] = [];
  private closeError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly remote: string,
    private readonly opts: ResolvedOptions,
  ) {
    this.reader = new FrameReader(opts.maxFrameSize);
    // Writes queue inside the writer while the socket is back-pressured and go out on 'drain'.
    this.writer = new FrameWriter(writableSink(socket), connectionOptions(opts, socket.remoteAddress));
    this.heartbeat = Heartbeat.start(opts.heartbeatInterval, opts.heartbeatTimeout, {
      ping: () => this.writer.write(HEARTBEAT_PING, HEARTBEAT_PING_ID),
      dead: (reason) => this.die(reason),
    });
    this.streams = new TcpStreams(this.writer, opts.maxFrameSize);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.closeReason = `connection error: ${err.message}`;
      opts.logger.debug({ remote, err: err.message }, 'tcp: client socket error');
    });
    socket.on('close', () => this.onSocketClose());
  }

  /** Connects to `host:port`; fails with a 503 RpcError when refused or not connected within connectTimeout. */
  static dial(address: string, opts: ResolvedOptions): Promise<TcpClientSocket> {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddress(address));
    } catch (err) {
      return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 400, (err as Error).message));
    }
    return new Promise((resolve, reject) => {
      const socket = connect({ host: host || 'localhost', port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(unavailable(`connect to ${address} timed out after ${opts.connectTimeout} ms`));
      }, opts.connectTimeout);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(unavailable(`connect to ${address} failed: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TcpClientSocket(socket, formatAddress(socket.remoteAddress ?? host, port), opts));
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.pending.size + this.streams.table.size;
  }

  request(message: Message, options: RequestOptions): Promise<Message> {
    if (this.isClosed) return Promise.reject(unavailable(`${this.closeReason} (${this.remote})`));
    const refused = refuseEarly(options);
    if (refused) return Promise.reject(refused);
    const { timeout, signal } = options;
    const id = this.allocateId();
    const frame = message.timeout > 0 ? message : { ...message, timeout };
    try {
      this.writer.write(frame, id);
    } catch (err) {
      const e = err as FrameError;
      return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, e.code || 400, e.message));
    }
    return this.pending.add(id, timeout, signal, undefined);
  }

  /** Sends `message` as a request stream and returns its channel (ClientSocket.stream). */
  stream(message: Message, options: RequestOptions): StreamChannel {
    if (this.isClosed) throw unavailable(`${this.closeReason} (${this.remote})`);
    const refused = refuseEarly(options);
    if (refused) throw refused;
    const { timeout, signal } = options;
    const id = this.allocateId();
    try {
      this.writer.write({ ...message, timeout: message.timeout > 0 ? message.timeout : timeout, stream: true }, id);
    } catch (err) {
      const e = err as FrameError;
      throw new RpcError(TRANSPORT_ERROR_ID, e.code || 400, e.message);
    }
    const channel = this.streams.table.open(id, 'client');
    channel.bound(timeout, signal);
    return channel;
  }

  /** Sends a ping and resolves with the round-trip time in ms when the pong comes back (503 if the connection ends). */
  ping(timeout = 5_000): Promise<number> {
    if (this.isClosed) return Promise.reject(unavailable(`${this.closeReason} (${this.remote})`));
    const id = this.allocateId();
    const start = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new RpcError(TRANSPORT_ERROR_ID, 408, `no pong within ${timeout} ms`));
      }, timeout);
      this.pings.set(id, {
        done: () => {
          clearTimeout(timer);
          resolve(performance.now() - start);
        },
        fail: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.writer.control(MessageKind.ping, id);
    });
  }

  /** See ClientSocket.onClose: `err` is undefined when close() was called, the 503 RpcError otherwise. */
  onClose(listener: (err: Error | undefined) => void): void {
    if (this.isClosed) listener(this.closeError);
    else this.closeListeners.push(listener);
  }

  close(): void {
    if (this.isClosed) return;
    this.shutdown('connection closed by client', true);
    // Whatever is still queued belongs to calls just failed; the server cancels their work when it sees the close.
    this.writer.close();
    this.socket.end();
    // A server that never closes its side must not keep this socket (and the process) alive.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  private allocateId(): number {
    // Ids wrap at 2^32; skipping ones still in flight keeps them unique even after wrapping.
    do this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    while (this.pending.has(this.nextId) || this.pings.has(this.nextId) || this.streams.table.has(this.nextId));
    return this.nextId;
  }

  private onData(chunk: Buffer): void {
    this.heartbeat?.heard();
    this.reader.push(chunk);
    try {
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) this.onFrame(f);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.opts.logger.warn({ remote: this.remote, reason: err.reason }, 'tcp transport: closing connection');
      this.closeReason = `protocol error: ${err.reason}`;
      this.socket.destroy();
    }
  }

  private onFrame(f: Frame): void {
    if (f.kind === MessageKind.response) {
      const p = this.pending.take(f.id);
      // The answer to a stream call; or a response after its request timed out or was aborted (dropped there).
      if (!p) return this.streams.receive(f);
      const refused = inflateInPlace(f, this.opts.maxFrameSize);
      if (refused) {
        this.opts.logger.warn({ remote: this.remote, reason: refused.reason }, 'tcp transport: refusing response body');
        return p.reject(new RpcError(TRANSPORT_ERROR_ID, refused.code, refused.reason));
      }
      // A stream reply: its channel must exist before this frame's successors are read, so it opens here.
      if (f.stream) f.channel = this.replyStream(f.id, p);
      p.resolve(f);
    } else if (TcpStreams.carries(f.kind)) {
      this.streams.receive(f);
    } else if (f.kind === MessageKind.pong) {
      const ping = this.pings.get(f.id);
      this.pings.delete(f.id);
      ping?.done();
    } else if (f.kind === MessageKind.ping) {
      this.writer.write(pongFor(f, this.opts.maxFrameSize), f.id);
    } else {
      this.opts.logger.debug({ remote: this.remote, kind: f.kind }, 'tcp: client ignoring unexpected frame');
    }
  }

  /** The channel of a request answered with a stream; the request's deadline and signal now bound the stream. */
  private replyStream(id: number, p: PendingCall): StreamChannel {
    const channel = this.streams.table.open(id, 'client');
    channel.openedByResponse();
    channel.bound(p.deadline - performance.now(), p.signal);
    return channel;
  }

  private onSocketClose(): void {
    if (!this.isClosed) this.shutdown(this.closeReason);
    this.writer.close();
  }

  /** The heartbeat found the server unresponsive: fail everything now and drop the connection without a goodbye. */
  private die(reason: string): void {
    if (this.isClosed) return;
    this.opts.logger.warn({ remote: this.remote, reason }, 'tcp transport: closing connection');
    this.shutdown(reason);
    this.writer.close();
    this.socket.destroy();
  }

  private shutdown(reason: string, byUs = false): void {
    this.isClosed = true;
    this.closeReason = reason;
    this.heartbeat?.stop();
    const err = unavailable(`${reason} (${this.remote})`);
    this.pending.failAll(err);
    this.streams.table.closeAll(err);
    for (const ping of this.pings.values()) ping.fail(err);
    this.pings.clear();
    this.closeError = byUs ? undefined : err;
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const listener of listeners) {
      try {
        listener(this.closeError);
      } catch (e) {
        // One failing listener must not keep the others (a pool's bookkeeping) from hearing about the close.
        this.opts.logger.error({ remote: this.remote, err: e }, 'tcp transport: close listener threw');
      }
    }
  }
}
