import { RpcError } from '../errors';
import { type Logger, silentLogger } from '../observe/logger';
import type {
  ClientSocket,
  DialOptions,
  ListenOptions,
  Listener,
  Message,
  PeerInfo,
  Reply,
  RequestHandler,
  RequestOptions,
  Transport,
} from './transport';
import { errorResponse } from './error-response';
import { copyMessage as copy, isStreamFrame, memoryStreams } from './memory-stream';
import { PendingRequests, refuseEarly } from './pending';
import type { StreamChannel, StreamTable } from './stream-channel';
import { MessageKind, TRANSPORT_ERROR_ID } from './transport';

export interface MemoryTransportOptions {
  /** Largest request or response body accepted, in bytes (413 beyond it). Default 4 MiB. */
  maxFrameSize?: number;
  /** Requests one connection may have in flight; later ones wait in a queue, as unread bytes would. Default 1024. */
  maxInFlight?: number;
  /** Listener.close drops connections still busy after this long (ms). Default 1 s. */
  closeGrace?: number;
  logger?: Logger;
}

const ERROR_ID = TRANSPORT_ERROR_ID;

/** Every memory listener in the process, by address; dialing looks here. */
const listeners = new Map<string, MemoryListener>();
let nextPort = 1;
let nextConn = 1;

/**
 * The in-process transport. Addresses look like `memory:1`; listening on `memory`, `memory:0` or `` picks a free one.
 * It keeps the tcp transport's contract (ids, timeouts, cancel, 503 on close) without sockets: messages are copied and
 * handed over on a later microtask, so neither side ever runs inside the other's call and neither sees the other's
 * buffers change.
 */
export class MemoryTransport implements Transport {
  readonly name = 'memory';

  constructor(private readonly options: MemoryTransportOptions = {}) {}

  async listen(address: string, handler: RequestHandler, options?: ListenOptions): Promise<Listener> {
    let addr = address.trim();
    if (addr === '' || addr === 'memory' || addr === 'memory:0') {
      while (listeners.has(`memory:${nextPort}`)) nextPort++;
      addr = `memory:${nextPort++}`;
    }
    if (!/^memory:.+$/.test(addr)) throw new Error(`invalid memory address "${address}": expected memory:<name>`);
    if (listeners.has(addr)) throw new Error(`memory address ${addr} is already in use`);
    const listener = new MemoryListener(addr, handler, {
      maxFrameSize: options?.maxFrameSize ?? this.options.maxFrameSize ?? 4 * 1024 * 1024,
      maxInFlight: Math.max(1, options?.maxInFlight ?? this.options.maxInFlight ?? 1024),
      closeGrace: options?.closeGrace ?? this.options.closeGrace ?? 1_000,
      logger: options?.logger ?? this.options.logger ?? silentLogger,
    });
    listeners.set(addr, listener);
    return listener;
  }

  async dial(address: string, _options?: DialOptions): Promise<ClientSocket> {
    const listener = listeners.get(address.trim());
    if (!listener || listener.closing) {
      throw new RpcError(ERROR_ID, 503, `nothing is listening on ${address}`);
    }
    return listener.connect();
  }

  async close(): Promise<void> {}
}

type Limits = Required<MemoryTransportOptions>;

class MemoryListener implements Listener {
  closing = false;
  private closed: Promise<void> | undefined;
  private readonly conns = new Set<ServerEnd>();
  private allClosed: (() => void) | undefined;

  constructor(
    readonly address: string,
    private readonly handler: RequestHandler,
    readonly limits: Limits,
  ) {}

  connect(): MemoryClientSocket {
    const client = new MemoryClientSocket(this.address, this.limits.maxFrameSize);
    const server = new ServerEnd(`memory:client-${nextConn++}`, this.handler, this.limits, client, (s) => {
      this.conns.delete(s);
      if (this.conns.size === 0) this.allClosed?.();
    });
    client.server = server;
    this.conns.add(server);
    return client;
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (listeners.get(this.address) === this) listeners.delete(this.address);
    const done = new Promise<void>((resolve) => (this.conns.size === 0 ? resolve() : (this.allClosed = resolve)));
    for (const c of this.conns) c.drain();
    const grace = setTimeout(() => {
      for (const c of this.conns) c.drop('listener closed');
    }, this.limits.closeGrace);
    grace.unref();
    await done;
    clearTimeout(grace);
  }
}

/** The listener's half of one connection: in-flight bookkeeping, the cap's queue, cancel callbacks, streams. */
class ServerEnd implements PeerInfo {
  private readonly inflight = new Map<number, (() => void) | undefined>();
  private readonly queue: Message[] = [];
  private closed = false;
  private draining = false;
  /** Requests answered with a stream stay in `inflight` until their stream ends. */
  private readonly streams: StreamTable;

  constructor(
    readonly remote: string,
    private readonly handler: RequestHandler,
    private readonly limits: Limits,
    private readonly client: MemoryClientSocket,
    private readonly onClose: (s: ServerEnd) => void,
  ) {
    this.streams = memoryStreams(limits.maxFrameSize, (m) => client.deliver(m), (id) => {
      if (this.inflight.delete(id)) this.answered();
    });
  }

  receive(m: Message): void {
    if (this.closed) return;
    if (m.kind === MessageKind.cancel) return this.cancel(m.id, m.timeout);
    if (isStreamFrame(m.kind)) {
      const problem = this.streams.receive(m);
      if (problem) this.drop(problem);
      return;
    }
    // Open streams are not counted: they need their frames delivered to finish (as on tcp).
    if (this.inflight.size - this.streams.size >= this.limits.maxInFlight) this.queue.push(m);
    else this.dispatch(m);
  }

  /** The client cancelled request `id`; `why` is the cancel's reason code (408: its deadline passed). */
  cancel(id: number, why = 0): void {
    const i = this.queue.findIndex((q) => q.id === id);
    if (i >= 0) {
      this.queue.splice(i, 1);
      return;
    }
    const cb = this.inflight.get(id);
    if (cb) this.runCancel(cb);
    this.streams.cancelled(id, why);
  }

  openStream(id: number): StreamChannel {
    if (!this.inflight.has(id)) throw new RpcError(ERROR_ID, 500, `request ${id} is not in flight`);
    if (this.streams.size >= this.limits.maxInFlight) {
      throw new RpcError(ERROR_ID, 429, `too many open streams on this connection (${this.limits.maxInFlight})`);
    }
    return this.streams.open(id, 'server');
  }

  onCancel(id: number, cb: () => void): void {
    if (this.inflight.has(id)) this.inflight.set(id, cb);
  }

  clearCancel(id: number): void {
    if (this.inflight.has(id)) this.inflight.set(id, undefined);
  }

  drain(): void {
    this.draining = true;
    if (this.inflight.size === 0) this.drop('listener closed');
  }

  /** Closes the connection from the server side: cancels what runs, and the client fails what it waits for (503). */
  drop(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    for (const cb of this.inflight.values()) if (cb) this.runCancel(cb);
    this.inflight.clear();
    this.streams.closeAll(new RpcError(ERROR_ID, 503, reason));
    this.client.lost(reason);
    this.onClose(this);
  }

  private dispatch(m: Message): void {
    const id = m.id;
    this.inflight.set(id, undefined);
    const reply: Reply = (res) => this.reply(id, res);
    try {
      this.handler(m, reply, this);
    } catch (err) {
      this.limits.logger.error({ remote: this.remote, err }, 'memory transport: request handler threw');
      // A handler must reply through `reply`; one that throws would otherwise leave the caller waiting.
      this.reply(id, errorResponse(m, 500, 'request handler failed'));
    }
  }

  private reply(id: number, res: Message): void {
    if (this.closed || !this.inflight.delete(id)) return;
    if (res.body.length > this.limits.maxFrameSize) {
      const detail = `reply of ${res.body.length} bytes exceeds the maximum of ${this.limits.maxFrameSize}`;
      res = errorResponse(res, 413, detail);
    }
    this.client.deliver({ ...copy(res), id });
    this.answered();
  }

  /** A request was answered (or its stream ended): close a draining connection once idle, else start a queued one. */
  private answered(): void {
    if (this.closed) return;
    if (this.draining && this.inflight.size === 0) return this.drop('listener closed');
    const next = this.queue.shift();
    if (next) this.dispatch(next);
  }

  private runCancel(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      this.limits.logger.error({ remote: this.remote, err }, 'memory transport: cancel callback threw');
    }
  }
}

class MemoryClientSocket implements ClientSocket {
  server!: ServerEnd;
  /** Requests waiting for their responses; one that times out or is aborted is cancelled on the server end. */
  private readonly pending = new PendingRequests<number>({
    abandoned: (id) => {
      if (!this.isClosed) queueMicrotask(() => this.server.cancel(id));
    },
  });
  private readonly streams: StreamTable;
  private nextId = 0;
  private isClosed = false;
  private reason = 'connection closed';

  constructor(
    readonly remote: string,
    private readonly maxFrameSize: number,
  ) {
    this.streams = memoryStreams(maxFrameSize, (m) => this.server.receive(m));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.pending.size + this.streams.size;
  }

  request(message: Message, options: RequestOptions): Promise<Message> {
    if (this.isClosed) return Promise.reject(new RpcError(ERROR_ID, 503, `${this.reason} (${this.remote})`));
    const refused = refuseEarly(options);
    if (refused) return Promise.reject(refused);
    const { timeout, signal } = options;
    if (message.body.length > this.maxFrameSize) {
      const detail = `body of ${message.body.length} bytes exceeds the maximum of ${this.maxFrameSize}`;
      return Promise.reject(new RpcError(ERROR_ID, 413, detail));
    }
    const id = this.allocateId();
    const frame: Message = { ...copy(message), id, timeout: message.timeout > 0 ? message.timeout : Math.ceil(timeout) };
    const response = this.pending.add(id, timeout, signal, undefined);
    queueMicrotask(() => this.server.receive(frame));
    return response;
  }

  /** Sends `message` as a request stream and returns its channel (ClientSocket.stream). */
  stream(message: Message, options: RequestOptions): StreamChannel {
    if (this.isClosed) throw new RpcError(ERROR_ID, 503, `${this.reason} (${this.remote})`);
    const refused = refuseEarly(options);
    if (refused) throw refused;
    const { timeout, signal } = options;
    const id = this.allocateId();
    const frame: Message = { ...copy(message), id, stream: true, timeout: message.timeout > 0 ? message.timeout : Math.ceil(timeout) };
    const channel = this.streams.open(id, 'client');
    channel.bound(timeout, signal);
    queueMicrotask(() => this.server.receive(frame));
    return channel;
  }

  close(): void {
    if (this.isClosed) return;
    this.lost('connection closed by client');
    this.server.drop('client closed the connection');
  }

  /** A frame from the server end, handed over on a later microtask like a frame off the wire. */
  deliver(m: Message): void {
    queueMicrotask(() => this.receive(m));
  }

  private receive(m: Message): void {
    if (this.isClosed) return;
    const p = m.kind === MessageKind.response ? this.pending.take(m.id) : undefined;
    if (!p) {
      // Stream frames, the answer to a stream call, or a response nobody waits for any more (dropped there).
      const problem = this.streams.receive(m);
      if (problem) this.server.drop(problem);
      return;
    }
    if (m.stream) {
      const channel = this.streams.open(m.id, 'client');
      channel.openedByResponse();
      channel.bound(p.deadline - performance.now(), p.signal);
      m.channel = channel;
    }
    p.resolve(m);
  }

  /** The connection is gone: everything pending fails with 503. */
  lost(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.reason = reason;
    const err = new RpcError(ERROR_ID, 503, `${reason} (${this.remote})`);
    this.pending.failAll(err);
    this.streams.closeAll(err);
  }

  private allocateId(): number {
    do this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    while (this.pending.has(this.nextId) || this.streams.has(this.nextId));
    return this.nextId;
  }
}
