import { RpcError } from '../errors';
import { type Message, MessageKind, TRANSPORT_ERROR_ID } from './transport';

/**
 * Streams as a transport carries them, shared by every transport: a StreamChannel is one end of one call id whose
 * messages flow as data frames in either direction, and a StreamTable holds the channels of one connection. The
 * transport only moves frames (`send`) and routes the ones it reads (`receive`); flow control, the order of the
 * final frames and who forgets the id when all live here, so tcp and memory behave the same (docs/protocol.md).
 *
 * Flow control counts messages, not bytes: a sender may have at most the credit its peer granted outstanding. The
 * receiver grants more only as its consumer takes messages, so a slow consumer stops the producer after one window
 * and nothing is ever buffered past it.
 */

/** The credit a stream direction starts with, in messages. */
export const STREAM_WINDOW = 16;
/** Credit goes back in batches of half a window: one credit frame per 8 messages, and the sender never runs dry. */
const GRANT_BATCH = STREAM_WINDOW / 2;
const U32_MAX = 0xffffffff;
const MAX_TIMER = 0x7fffffff;
const EMPTY = new Uint8Array(0);

export type StreamRole = 'client' | 'server';

interface Reader {
  resolve(m: Message): void;
  reject(e: Error): void;
}

function frame(kind: MessageKind, id: number, codec = 0, body: Uint8Array = EMPTY, error = false, count = 0): Message {
  return { kind, id, codec, service: '', endpoint: '', timeout: count, metadata: undefined, error, body };
}

/** What a server's handler reads once the call is over: a clean end. */
const ENDED: Message = frame(MessageKind.end, 0);

/**
 * One end of a stream. The client end belongs to the caller: it may send data (once the server granted credit), end
 * its requests, or cancel; it reads the server's response, data and final frame. The server end belongs to the
 * server: it grants credit (accepting a request stream), opens a reply stream, sends data, and finishes the call with
 * an end frame or a plain response; it reads the client's data and end.
 *
 * `next()` yields inbound frames in order (response, data, end); local failures (deadline, cancel, connection lost)
 * reject it instead. Consuming a data frame is what grants the peer more credit.
 */
export class StreamChannel {
  /** Data frames this end may still send. */
  private credit = 0;
  /** Data frames the peer may still send; one more is a protocol error. */
  private allowance = 0;
  /** Data frames taken by the consumer since the last grant. */
  private consumed = 0;
  private readonly inbox: Message[] = [];
  private reader: Reader | undefined;
  private writer: ((ok: boolean) => void) | undefined;
  private credited: Promise<boolean> | undefined;
  /** The peer's last frame, handed out again to every later next(). */
  private last: Message | undefined;
  private failure: Error | undefined;
  /** Server: an inbound message could not be read; the handler's next read fails with this once the inbox is empty. */
  private unreadable: Error | undefined;
  /** The peer will send no more data (its end, or the server's final frame, arrived). */
  private inboundDone = false;
  /** This end sent its end (or its final response). */
  private outboundDone = false;
  /** Server: the reply stream was opened. Client: the server's stream response arrived. */
  private opened = false;
  private over = false;
  private timer: NodeJS.Timeout | undefined;
  private signal: AbortSignal | undefined;
  private onSignal: (() => void) | undefined;
  /** The owner's hook: the call failed on this end (cancelled by the peer, its deadline, the connection lost). */
  onAbort: ((err: Error) => void) | undefined;

  constructor(
    readonly id: number,
    readonly role: StreamRole,
    private readonly table: StreamTable,
  ) {}

  /** False once the call is over for this end (finished, cancelled, timed out or its connection lost). */
  get live(): boolean {
    return !this.over;
  }

  /** True when send() may be called now. */
  get canSend(): boolean {
    return this.credit > 0 && !this.over && !this.outboundDone;
  }

  /** Resolves true once send() may be called, false when this end will never send again (the call is over). */
  ready(): Promise<boolean> {
    if (this.over || this.outboundDone) return Promise.resolve(false);
    if (this.credit > 0) return Promise.resolve(true);
    return (this.credited ??= new Promise((resolve) => (this.writer = resolve)));
  }

  /** Sends one message. Only while canSend; throws an RpcError (413) when the frame cannot be sent. */
  send(codec: number, body: Uint8Array): void {
    if (!this.canSend) throw new Error(`stream ${this.id}: send without credit`);
    this.table.send(frame(MessageKind.data, this.id, codec, body));
    this.credit--;
  }

  /** The next inbound frame, in order. Rejects with the failure once the call failed on this side. */
  next(): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    const m = this.inbox.shift();
    if (m) {
      if (m.kind === MessageKind.data) this.took();
      return Promise.resolve(m);
    }
    if (this.unreadable) return Promise.reject(this.unreadable);
    if (this.last) return Promise.resolve(this.last);
    if (this.over) return Promise.resolve(ENDED);
    if (this.reader) return Promise.reject(new Error(`stream ${this.id}: next() while another next() is waiting`));
    return new Promise((resolve, reject) => (this.reader = { resolve, reject }));
  }

  /** Clean end of this end's messages. For the server this finishes the call. */
  end(): void {
    if (this.over || this.outboundDone) return;
    this.table.send(frame(MessageKind.end, this.id));
    this.outboundDone = true;
    if (this.role === 'server') this.finish();
    else this.wakeWriter(false);
  }

  /**
   * Client: stop the call. Sends a cancel frame (saying 408 when `reason` is a 408, so the server ends with a deadline
   * too); this end's next() rejects with `reason` (499 by default).
   */
  cancel(reason?: Error): void {
    if (this.over || this.role !== 'client') return;
    const why = reason instanceof RpcError && reason.code === 408 ? 408 : 0;
    this.table.send(frame(MessageKind.cancel, this.id, 0, EMPTY, false, why));
    this.abort(reason ?? new RpcError(TRANSPORT_ERROR_ID, 499, 'stream cancelled'));
  }

  /** Server: accepts a request stream by letting the client send `n` messages. */
  grant(n: number): void {
    if (this.over) return;
    this.table.send(frame(MessageKind.credit, this.id, 0, EMPTY, false, n));
    this.allowance += n;
  }

  /** Server: answers the request with a reply stream; data frames may follow, up to the initial window. */
  open(codec: number): void {
    if (this.over || this.opened) return;
    this.table.send({ ...frame(MessageKind.response, this.id, codec), stream: true });
    this.opened = true;
    this.credit += STREAM_WINDOW;
    this.wakeWriter(true);
  }

  /** Server: whether open() was called; the call then ends with an end frame, otherwise with a plain response. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** Server: finishes a call whose reply is not a stream with a plain response (a value or an error record). */
  respond(response: Message): void {
    if (this.over) return;
    this.table.send({ ...response, id: this.id, stream: false });
    this.outboundDone = true;
    this.finish();
  }

  /** Server: finishes an open reply stream with an error record (`body`, encoded in `codec`). */
  fail(codec: number, body: Uint8Array): void {
    if (this.over) return;
    this.table.send(frame(MessageKind.end, this.id, codec, body, true));
    this.outboundDone = true;
    this.finish();
  }

  /** Client: the call fails with 408 after `timeout` ms and with 499 when `signal` aborts (a cancel frame goes out). */
  bound(timeout: number, signal: AbortSignal | undefined): void {
    this.timer = setTimeout(
      () => this.cancel(new RpcError(TRANSPORT_ERROR_ID, 408, `stream not finished within ${Math.round(timeout)} ms`)),
      Math.max(1, Math.min(timeout, MAX_TIMER)),
    );
    if (signal) {
      this.signal = signal;
      this.onSignal = () => this.cancel(new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted'));
      if (signal.aborted) this.onSignal();
      else signal.addEventListener('abort', this.onSignal, { once: true });
    }
  }

  /** Marks the client end as having seen the server's stream response already (it came as a request's reply). */
  openedByResponse(): void {
    this.opened = true;
    this.allowance += STREAM_WINDOW;
  }

  /** Transport side: an inbound frame for this stream. Returns the reason when it breaks the protocol. */
  deliver(m: Message): string | undefined {
    if (this.over) return undefined;
    switch (m.kind) {
      case MessageKind.data:
        if (this.allowance <= 0) return `stream ${this.id}: data frame past the granted window`;
        this.allowance--;
        this.push(m);
        return undefined;
      case MessageKind.credit:
        if (this.credit + m.timeout > U32_MAX) return `stream ${this.id}: credit overflow`;
        this.credit += m.timeout;
        if (this.credit > 0) this.wakeWriter(true);
        return undefined;
      case MessageKind.end:
        this.inboundDone = true;
        this.last = this.role === 'server' ? ENDED : m;
        this.push(this.last);
        // The server's end finishes the call; the client's only says its requests are over.
        if (this.role === 'client') this.finish();
        return undefined;
      case MessageKind.response:
        if (this.role === 'server') return undefined;
        if (this.opened) return `stream ${this.id}: a second response`;
        if (m.stream) {
          this.openedByResponse();
          this.push(m);
          return undefined;
        }
        this.inboundDone = true;
        this.last = m;
        this.push(m);
        this.finish();
        return undefined;
      default:
        return undefined;
    }
  }

  /** Transport side: the client cancelled (server end); `why` is the cancel frame's reason code (408: its deadline). */
  peerCancelled(why = 0): void {
    if (why === 408) this.abort(new RpcError(TRANSPORT_ERROR_ID, 408, "the caller's deadline passed"));
    else this.abort(new RpcError(TRANSPORT_ERROR_ID, 499, 'the caller cancelled the stream'));
  }

  /**
   * Transport side: an inbound message could not be read (its body was refused). The client cancels the call with
   * `err`; on the server the handler's next read fails with `err` (after the messages before it) and the server ends
   * the call with it, so the client hears why.
   */
  refused(err: Error): void {
    if (this.over) return;
    if (this.role === 'client') return this.cancel(err);
    this.unreadable ??= err;
    this.inboundDone = true;
    const reader = this.reader;
    this.reader = undefined;
    reader?.reject(err);
  }

  /** Transport side: fails this end locally (connection lost, a body refused) without telling the peer. */
  abort(err: Error): void {
    if (this.over) return;
    this.failure = err;
    this.inbox.length = 0;
    const reader = this.reader;
    this.reader = undefined;
    reader?.reject(err);
    this.finish();
    this.onAbort?.(err);
  }

  private push(m: Message): void {
    const reader = this.reader;
    if (reader) {
      this.reader = undefined;
      if (m.kind === MessageKind.data) this.took();
      reader.resolve(m);
    } else this.inbox.push(m);
  }

  /** Counts a consumed data frame and grants the peer more once half a window was taken. */
  private took(): void {
    if (this.over || this.inboundDone) return;
    if (++this.consumed < GRANT_BATCH) return;
    const n = this.consumed;
    this.consumed = 0;
    this.allowance += n;
    this.table.send(frame(MessageKind.credit, this.id, 0, EMPTY, false, n));
  }

  private wakeWriter(ok: boolean): void {
    const w = this.writer;
    this.writer = undefined;
    this.credited = undefined;
    w?.(ok);
  }

  /** The call is over for this end: forget the id, stop the timer, wake whoever waits. */
  private finish(): void {
    if (this.over) return;
    this.over = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onSignal) this.signal?.removeEventListener('abort', this.onSignal);
    this.table.released(this.id);
    this.wakeWriter(false);
    const reader = this.reader;
    this.reader = undefined;
    if (reader) {
      if (this.failure) reader.reject(this.failure);
      else reader.resolve(this.last ?? ENDED);
    }
  }
}

/**
 * The open streams of one connection, by call id. `send` writes one frame (and may throw an RpcError when it cannot be
 * sent); `onRelease` hears when a stream is over on this side, so the server can count the request as answered.
 */
export class StreamTable {
  private readonly channels = new Map<number, StreamChannel>();

  constructor(
    private readonly out: (m: Message) => void,
    private readonly onRelease: (id: number) => void = () => undefined,
  ) {}

  get size(): number {
    return this.channels.size;
  }

  has(id: number): boolean {
    return this.channels.has(id);
  }

  /** A new channel for call `id`; its credit starts at zero both ways. */
  open(id: number, role: StreamRole): StreamChannel {
    if (this.channels.has(id)) throw new Error(`stream ${id} is already open`);
    const ch = new StreamChannel(id, role, this);
    this.channels.set(id, ch);
    return ch;
  }

  /** Routes an inbound response, data, end or credit frame. Frames for ids not open here are dropped. */
  receive(m: Message): string | undefined {
    return this.channels.get(m.id)?.deliver(m);
  }

  /** An inbound frame for call `id` could not be read (see StreamChannel.refused). */
  refused(id: number, err: Error): void {
    this.channels.get(id)?.refused(err);
  }

  /** The client cancelled call `id`; `why` is the cancel frame's reason code. */
  cancelled(id: number, why = 0): void {
    this.channels.get(id)?.peerCancelled(why);
  }

  /** The connection is gone: every stream fails with `err`. */
  closeAll(err: Error): void {
    for (const ch of [...this.channels.values()]) ch.abort(err);
  }

  /** Channel side: writes one frame. */
  send(m: Message): void {
    this.out(m);
  }

  /** Channel side: stream `id` is over on this end. */
  released(id: number): void {
    if (this.channels.delete(id)) this.onRelease(id);
  }
}

/** True for values a `for await` can iterate (the shape of a request stream argument, or a stream handler's result). */
export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}
