import { createInbox, type Msg, type Subscription } from '@nats-io/transport-node';
import { RpcError } from '../../lib/errors';
import { PendingRequests } from '../../lib/transport/pending';
import { type ClientSocket, type Message, MessageKind, type RequestOptions, TRANSPORT_ERROR_ID } from '../../lib/transport/transport';
import type { NatsConnector } from './connection';
import { FrameError, frameBytes, readFrame } from './frames';
import { cancelSubjectFor } from './subjects';

/**
 * The calling half of the NATS transport. One inbox subscription (`_INBOX.<nuid>.*`) per transport instance receives
 * every reply; each request publishes its frame with reply subject `<inbox>.<token>`, and the token finds the caller.
 * A request to a subject nobody subscribes to gets the server's "no responders" status (503) at once, which is how a
 * dead or closed listener fails fast. When the connection to NATS drops, every pending request fails with 503 (its
 * reply could not arrive), and new ones fail at once until it is back.
 */

const EMPTY = Buffer.alloc(0);

/** Where a pending request went, kept with it in the table (keyed by reply token). */
interface Sent {
  socket: NatsClientSocket;
  subject: string;
  /** The reply subject: also what the server keys the request by, so a cancel names it. */
  reply: string;
  id: number;
}

export class NatsRequester {
  private inbox: string | undefined;
  private sub: Subscription | undefined;
  /** Requests waiting for replies, by reply token; a deadline or abort sends the server a cancel. */
  private readonly pending = new PendingRequests<string, Sent>({
    abandoned: (_token, _err, p) => this.cancel(p.context),
    released: (token, p) => p.context.socket.track(token, false),
  });
  private seq = 0;
  private readonly offConnection: () => void;

  constructor(private readonly conn: NatsConnector) {
    this.offConnection = conn.on((event) => {
      // After a disconnect, replies sent meanwhile are lost: waiting for them would only end at the deadline.
      if (event !== 'reconnect') this.pending.failAll(unavailable(event === 'close' ? 'the NATS connection closed' : 'the connection to NATS was lost'));
    });
  }

  /** Connects and subscribes the inbox on first use; a 503 when NATS is not reachable. */
  async ready(): Promise<void> {
    const nc = await this.conn.get();
    if (this.sub) return;
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.onReply(msg)) });
  }

  dial(subject: string): NatsClientSocket {
    return new NatsClientSocket(this, subject);
  }

  request(socket: NatsClientSocket, message: Message, id: number, { timeout, signal }: RequestOptions): Promise<Message> {
    if (!(timeout > 0)) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 408, 'request deadline already passed'));
    if (signal?.aborted) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, 499, 'request aborted before it was sent'));
    let nc;
    try {
      nc = this.conn.requireConnected();
    } catch (err) {
      return Promise.reject(err);
    }
    let bytes: Buffer;
    try {
      // The server learns the caller's deadline from the frame, as over tcp.
      bytes = frameBytes({ ...message, timeout: message.timeout > 0 ? message.timeout : Math.ceil(timeout) }, id, this.conn.maxPayload);
    } catch (err) {
      if (err instanceof FrameError) return Promise.reject(new RpcError(TRANSPORT_ERROR_ID, err.code || 400, `${err.message} (NATS max_payload)`));
      return Promise.reject(err);
    }
    const token = String(++this.seq);
    const reply = `${this.inbox}.${token}`;
    const subject = socket.subject;
    const response = this.pending.add(token, timeout, signal, { socket, subject, reply, id });
    socket.track(token, true);
    try {
      nc.publish(subject, bytes, { reply });
    } catch (err) {
      this.pending.take(token)?.reject(unavailable(`cannot publish to NATS: ${(err as Error).message}`));
    }
    return response;
  }

  /** Fails the pending requests of a socket that closed (`tokens`: the socket's own) with `err`. */
  failSocket(tokens: Iterable<string>, err: RpcError): void {
    for (const token of [...tokens]) this.pending.take(token)?.reject(err);
  }

  async close(): Promise<void> {
    this.offConnection();
    this.pending.failAll(unavailable('the transport is closed'));
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  /** A request given up here (deadline or abort): tell the server, so it can stop the handler. */
  private cancel(p: Sent): void {
    if (!this.conn.connected) return;
    const cancel: Message = { kind: MessageKind.cancel, id: p.id, codec: 0, service: '', endpoint: '', timeout: 0, metadata: undefined, error: false, body: EMPTY };
    try {
      this.conn.requireConnected().publish(cancelSubjectFor(p.subject), frameBytes(cancel, p.id, this.conn.maxPayload), { reply: p.reply });
    } catch {
      // The cancel is a courtesy: the server's own deadline stops the handler anyway.
    }
  }

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    const p = this.pending.take(token);
    if (!p) return; // late (after a deadline, abort or outage) or the no-responders answer to a cancel
    const { subject, id } = p.context;
    if (msg.headers && msg.headers.code === 503 && msg.data.length === 0) return p.reject(unavailable(`nobody listens on ${subject}`));
    let frame: Message;
    try {
      frame = readFrame(msg.data, this.conn.maxPayload);
      if (frame.kind !== MessageKind.response) throw new FrameError(`a kind ${frame.kind} frame where a response was expected`);
    } catch (err) {
      return p.reject(new RpcError(TRANSPORT_ERROR_ID, 502, `bad reply from ${subject}: ${(err as Error).message}`));
    }
    p.resolve({ ...frame, id });
  }
}

/**
 * A ClientSocket is only a destination subject here: the connection is the transport's. It stays open through NATS
 * outages (requests fail fast meanwhile and work again after the reconnect, with no redial or pool backoff).
 */
export class NatsClientSocket implements ClientSocket {
  private isClosed = false;
  private ids = 0;
  private readonly tokens = new Set<string>();
  private readonly closeListeners: ((err: Error | undefined) => void)[] = [];

  constructor(
    private readonly requester: NatsRequester,
    readonly subject: string,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  get inFlight(): number {
    return this.tokens.size;
  }

  request(message: Message, options: RequestOptions): Promise<Message> {
    if (this.isClosed) return Promise.reject(unavailable(`socket to ${this.subject} is closed`));
    this.ids = (this.ids + 1) >>> 0 || 1;
    return this.requester.request(this, message, this.ids, options);
  }

  /** Called by the requester as requests start and settle. */
  track(token: string, open: boolean): void {
    if (open) this.tokens.add(token);
    else this.tokens.delete(token);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.requester.failSocket(this.tokens, unavailable(`socket to ${this.subject} closed`));
    for (const l of this.closeListeners.splice(0)) l(undefined);
  }

  onClose(listener: (err: Error | undefined) => void): void {
    if (this.isClosed) listener(undefined);
    else this.closeListeners.push(listener);
  }
}

function unavailable(detail: string): RpcError {
  return new RpcError(TRANSPORT_ERROR_ID, 503, detail);
}
