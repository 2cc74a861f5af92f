import type { Codec, CodecTable } from '../codec';
import { currentContext } from '../context';
import { type ErrorRecord, errors, RpcError } from '../errors';
import type { SelectedNode, Selector } from '../selector/selector';
import type { StreamChannel } from '../transport/stream-channel';
import { type ClientSocket, type Message, MessageKind } from '../transport/transport';
import type { Pool } from './pool';
import { asRpcError } from './retry';
import { callDeadline, codecFor, decodeReply, mergeMetadata } from './scope';
import type { CallOptions, ClientStream } from './types';

/**
 * The client side of streaming calls. A call whose request is a plain value goes through Client.call like any other;
 * when the server answers it with a stream, call() hands the channel to `replyStream`. A call whose request is an
 * AsyncIterable goes through `callWithStream`: it opens a request stream, pumps the caller's items out only while the
 * server has granted credit, and resolves with the server's answer: the reply itself (client streaming) or a
 * ClientStream (bidi). Stream calls are failfast: they retry only while nothing has been sent (no connection).
 */

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
const EMPTY = new Uint8Array(0);

/** What callWithStream uses of the Client. */
export interface StreamClientHost {
  selector: Selector;
  pool: Pool;
  codecs: CodecTable;
  /** The client's default codec. */
  codec: Codec;
  timeout: number;
  retries: number;
}

/** Wraps the channel of a stream reply: the ClientStream a server or bidi streaming call resolves to. */
export function replyStream<T>(channel: StreamChannel, codecs: CodecTable, service: string, endpoint: string): ClientStream<T> {
  return new ReplyStream<T>(channel, codecs, service, endpoint);
}

/** Client.stream with an AsyncIterable request: a client or bidi streaming call. */
export async function callWithStream<T>(
  host: StreamClientHost,
  service: string,
  endpoint: string,
  input: AsyncIterable<unknown>,
  options: CallOptions,
): Promise<T> {
  const parent = currentContext();
  const deadline = callDeadline(Date.now(), options.timeout ?? host.timeout, parent);
  const codec = codecFor(host.codecs, options.codec, host.codec);
  const metadata = mergeMetadata(parent?.metadata, options.metadata);
  const picked = host.selector.select(service, { version: options.version, strategy: options.strategy, labels: options.labels, endpoint, key: options.key });
  const next = picked instanceof Promise ? await picked : picked;
  const retries = options.retries ?? host.retries;
  for (let attempt = 0; ; attempt++) {
    if (deadline <= Date.now()) throw errors.timeout('phobos.client', `${service}.${endpoint} timed out`);
    const node = next();
    if (!node) throw errors.unavailable('phobos.client', `no node of ${service} left to try`);
    let socket: ClientSocket;
    try {
      const got = host.pool.get(node.address);
      socket = got instanceof Promise ? await got : got;
    } catch (err) {
      // No frame has gone out yet: the one failure a stream call may retry (on another node).
      const e = asRpcError(err);
      host.selector.mark(service, node, e, { endpoint });
      if (!e.retryable || attempt >= retries) throw e;
      continue;
    }
    const message: Message = {
      kind: MessageKind.request,
      id: 0,
      codec: codec.id,
      service,
      endpoint,
      timeout: deadline - Date.now(),
      metadata,
      error: false,
      body: EMPTY,
      stream: true,
    };
    return open<T>(host, socket, node, message, input, codec, options.signal);
  }
}

/** Sends the request stream's opening frame and waits for the server's answer. */
async function open<T>(
  host: StreamClientHost,
  socket: ClientSocket,
  node: SelectedNode,
  message: Message,
  input: AsyncIterable<unknown>,
  codec: Codec,
  signal: AbortSignal | undefined,
): Promise<T> {
  const { service, endpoint } = message;
  const started = performance.now();
  let channel: StreamChannel;
  let first: Message;
  try {
    if (!socket.stream) throw errors.internal('phobos.client', 'this transport cannot carry request streams');
    channel = socket.stream(message, { timeout: message.timeout, signal });
    void pumpRequests(channel, input, codec, service, endpoint);
    first = await channel.next();
  } catch (err) {
    const e = asRpcError(err);
    host.selector.mark(service, node, e, { endpoint });
    throw e;
  }
  const rtt = performance.now() - started;
  if (first.stream) {
    host.selector.mark(service, node, undefined, { endpoint, rtt });
    return replyStream<T>(channel, host.codecs, service, endpoint) as T;
  }
  // A plain response ends the call: the client stream's reply, or why the server refused or failed it.
  const value = decodeReply(host.codecs, first, service, endpoint);
  const failure = first.error ? RpcError.from(value as ErrorRecord) : undefined;
  host.selector.mark(service, node, failure, { endpoint, rtt });
  if (failure) throw failure;
  return value as T;
}

/**
 * Sends the caller's items, pulling the next one only when the server has granted credit for it. Stops pulling (and
 * returns the caller's iterator, so its finally blocks run) as soon as the call is over for any reason. An iterator
 * that throws cancels the call, which then fails with 499.
 */
async function pumpRequests(ch: StreamChannel, input: AsyncIterable<unknown>, codec: Codec, service: string, endpoint: string): Promise<void> {
  let it: AsyncIterator<unknown> | undefined;
  // False while the caller's iterator may be suspended in a yield (it must then be returned).
  let finished = false;
  try {
    it = input[Symbol.asyncIterator]();
    for (;;) {
      if (!ch.canSend && !(await ch.ready())) return;
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (err) {
        finished = true;
        return ch.cancel(errors.cancelled('phobos.client', `the request stream failed: ${(err as Error)?.message ?? String(err)}`));
      }
      if (r.done) {
        finished = true;
        return ch.end();
      }
      if (!ch.canSend) return;
      let body: Uint8Array;
      try {
        body = codec.encode(r.value, service, endpoint, 'request');
      } catch (err) {
        throw errors.badRequest('phobos.client', `cannot encode a request message: ${(err as Error).message}`);
      }
      ch.send(codec.id, body);
    }
  } catch (err) {
    ch.cancel(err instanceof RpcError ? err : errors.internal('phobos.client', (err as Error).message));
  } finally {
    if (!finished && it?.return) {
      try {
        await it.return(undefined);
      } catch {
        // The caller's iterator failed while closing; the call is over either way.
      }
    }
  }
}

class ReplyStream<T> implements ClientStream<T>, AsyncIterator<T> {
  private over = false;
  private cancelled = false;

  constructor(
    private readonly channel: StreamChannel,
    private readonly codecs: CodecTable,
    private readonly service: string,
    private readonly endpoint: string,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.over || this.cancelled) return DONE;
    let m: Message;
    try {
      m = await this.channel.next();
    } catch (err) {
      this.over = true;
      if (this.cancelled) return DONE;
      throw err;
    }
    if (m.kind === MessageKind.data) {
      try {
        return { done: false, value: decodeReply(this.codecs, m, this.service, this.endpoint) as T };
      } catch (err) {
        this.cancel('undecodable reply');
        throw err;
      }
    }
    this.over = true;
    if (m.error) throw RpcError.from(decodeReply(this.codecs, m, this.service, this.endpoint) as ErrorRecord);
    return DONE;
  }

  /** `break` out of a for-await (or a throw in its body) lands here: the server is told to stop. */
  async return(): Promise<IteratorResult<T>> {
    this.cancel('the caller stopped reading');
    return DONE;
  }

  cancel(reason?: string): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.channel.cancel(errors.cancelled('phobos.client', reason ?? 'stream cancelled'));
  }
}
