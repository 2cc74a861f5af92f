import type { Codec } from '../codec';
import { RequestContext } from '../context';
import { errors, RpcError } from '../errors';
import type { Logger } from '../observe/logger';
import { isAsyncIterable, STREAM_WINDOW, type StreamChannel } from '../transport/stream-channel';
import { type Message, MessageKind, type PeerInfo, type Reply, responseTo } from '../transport/transport';
import type { CompiledEndpoint } from './endpoint';

/**
 * Serves streaming endpoints (@Method({ stream })). One StreamCall per call: it opens the call's channel, runs the
 * pre-composed handler once (wrappers included) inside the request's Context, feeds it the client's messages
 * (decoded and validated one by one, as it reads them) and pumps its replies out only while the client has granted
 * credit, so a slow client stops the handler's generator instead of filling memory.
 *
 * The call ends exactly once: cleanly, with the handler's error, with a bad inbound message's 400, with 408 at the
 * deadline, or quietly when the client cancelled or its connection dropped. An error ends a call whose reply stream is
 * open with an end frame, and any other call with a plain error response. Either way the handler's signal aborts and
 * a generator still suspended is returned, so its finally blocks run.
 */

/** What a StreamCall needs from the Server. */
export interface StreamHost {
  readonly logger: Logger;
  /** Counts the call in flight until `end`: drain waits for open streams. */
  begin(): void;
  end(): void;
  errorFrame(msg: Message, err: RpcError): Message;
  toRpcError(err: unknown, endpoint: CompiledEndpoint): RpcError;
  /** Runs `fn` as the handler's flow: inside AsyncLocalStorage unless the server turned propagation off. */
  within(ctx: RequestContext, fn: () => unknown): unknown;
}

/** Answers a request for a streaming endpoint (or a request stream sent to any endpoint). */
export function serveStream(host: StreamHost, msg: Message, reply: Reply, peer: PeerInfo, endpoint: CompiledEndpoint, codec: Codec): void {
  const id = `${endpoint.info.service}.${endpoint.info.endpoint}`;
  const streamsIn = endpoint.stream === 'client' || endpoint.stream === 'bidi';
  if (streamsIn !== (msg.stream === true)) {
    const detail = streamsIn ? `${id} takes a stream of requests` : `${id} takes one request, not a stream`;
    return reply(host.errorFrame(msg, errors.badRequest(id, detail)));
  }
  let channel: StreamChannel;
  try {
    if (!peer.openStream) throw errors.internal(id, 'this transport cannot carry streams');
    channel = peer.openStream(msg.id);
  } catch (err) {
    return reply(host.errorFrame(msg, err instanceof RpcError ? err : errors.internal(id, (err as Error).message)));
  }
  new StreamCall(host, msg, endpoint, codec, channel, id).start();
}

class StreamCall {
  private readonly ctx: RequestContext;
  private settled = false;
  /** The error the call ended with, if any; a handler reading on after it gets it again. */
  private error: RpcError | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: StreamHost,
    private readonly msg: Message,
    private readonly endpoint: CompiledEndpoint,
    private readonly codec: Codec,
    private readonly channel: StreamChannel,
    private readonly id: string,
  ) {
    this.ctx = new RequestContext(msg.service, msg.endpoint, msg.metadata, msg.timeout, host.logger);
  }

  start(): void {
    const { msg, ctx } = this;
    this.host.begin();
    // A cancel, the caller's deadline or a dropped connection: the client is gone, so nothing is sent; the handler's
    // signal aborts (with a TimeoutError at the deadline, as for unary calls).
    this.channel.onAbort = (err) => {
      const code = err instanceof RpcError ? err.code : 503;
      const why = code === 408 ? errors.timeout(this.id, 'deadline exceeded') : new RpcError(this.id, code, err.message);
      this.settle(why, undefined, true);
    };
    if (ctx.deadline > 0) {
      this.timer = setTimeout(() => this.settle(errors.timeout(this.id, 'deadline exceeded')), Math.max(1, ctx.deadline - Date.now()));
      this.timer.unref();
    }
    let arg: unknown;
    if (this.endpoint.stream === 'server') {
      try {
        arg = this.codec.decode(msg.body, msg.service, msg.endpoint, 'request');
      } catch (err) {
        this.settle(errors.badRequest(this.id, `malformed ${this.codec.name} body: ${(err as Error).message}`));
        return this.finished();
      }
    } else {
      // Accepting the request stream is granting its first window.
      this.channel.grant(STREAM_WINDOW);
      arg = this.inbound();
    }
    void this.host.within(ctx, () => this.run(arg));
  }

  private async run(arg: unknown): Promise<void> {
    try {
      const result = await this.endpoint.invoke(arg, this.ctx);
      if (this.endpoint.stream === 'client') this.settle(undefined, { value: result });
      else await this.pump(result);
    } catch (err) {
      if (!this.settled) this.settle(this.late() ? errors.timeout(this.id, 'deadline exceeded') : this.host.toRpcError(err, this.endpoint));
    } finally {
      this.finished();
    }
  }

  /** Sends the handler's replies, pulling the next one only when the client has credit for it. */
  private async pump(result: unknown): Promise<void> {
    if (!isAsyncIterable(result)) throw errors.internal(this.id, `a ${this.endpoint.stream} stream handler must return an AsyncIterable`);
    const it = result[Symbol.asyncIterator]();
    const ch = this.channel;
    // False while the iterator may be suspended in a yield: then it must be returned so its finally blocks run.
    let finished = false;
    try {
      if (this.settled) return;
      ch.open(this.codec.id);
      for (;;) {
        if (!ch.canSend && !(await ch.ready())) return;
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (err) {
          finished = true;
          throw err;
        }
        if (r.done) {
          finished = true;
          return this.settle();
        }
        if (this.settled) return;
        ch.send(this.codec.id, this.encode(r.value));
      }
    } finally {
      if (!finished) await it.return?.(undefined).catch(() => undefined);
    }
  }

  /** The client's messages, decoded and validated as the handler reads them; a bad one ends the call with its 400. */
  private async *inbound(): AsyncGenerator<unknown, void, undefined> {
    const validate = this.endpoint.validate;
    for (;;) {
      let m: Message;
      try {
        m = await this.channel.next();
      } catch (err) {
        throw this.failWith(err instanceof RpcError ? err : errors.internal(this.id, (err as Error).message));
      }
      if (m.kind !== MessageKind.data) {
        if (this.error) throw this.error;
        return;
      }
      let value: unknown;
      try {
        value = this.codec.decode(m.body, this.endpoint.info.service, this.endpoint.info.endpoint, 'request');
        if (validate) {
          value = validate(value);
          if (value instanceof Promise) value = await value;
        }
      } catch (err) {
        throw this.failWith(err instanceof RpcError ? err : errors.badRequest(this.id, `malformed ${this.codec.name} message: ${(err as Error).message}`));
      }
      yield value;
    }
  }

  private failWith(err: RpcError): RpcError {
    this.settle(err);
    return this.error ?? err;
  }

  private encode(value: unknown): Uint8Array {
    try {
      return this.codec.encode(value, this.endpoint.info.service, this.endpoint.info.endpoint, 'response');
    } catch (err) {
      throw errors.internal(this.id, `cannot encode a stream message: ${(err as Error).message}`);
    }
  }

  /**
   * Ends the call, once: with `err`, or cleanly (the reply stream's end, or a client stream's `reply`). `quiet` when
   * the client is gone and nothing should be sent.
   */
  private settle(err?: RpcError, reply?: { value: unknown }, quiet = false): void {
    if (this.settled) return;
    this.settled = true;
    this.error = err;
    if (this.timer) clearTimeout(this.timer);
    if (err) this.ctx.cancel(err.code === 408 ? deadlineReason(this.id) : err);
    const ch = this.channel;
    if (quiet || !ch.live) return;
    if (ch.isOpen) {
      if (!err) return ch.end();
      const f = this.host.errorFrame(this.msg, err);
      return ch.fail(f.codec, f.body);
    }
    try {
      ch.respond(err ? this.host.errorFrame(this.msg, err) : responseTo(this.msg, this.encode(reply?.value), false));
    } catch (e) {
      ch.respond(this.host.errorFrame(this.msg, e instanceof RpcError ? e : errors.internal(this.id, (e as Error).message)));
    }
  }

  private late(): boolean {
    return this.ctx.deadline > 0 && Date.now() >= this.ctx.deadline;
  }

  /** The handler is done (its generator closed): the call stops counting as in flight. */
  private finished(): void {
    if (!this.settled) this.settle(errors.internal(this.id, 'the stream handler ended without an answer'));
    this.ctx.finish();
    this.host.end();
  }
}

/** The abort reason a handler's signal carries at the deadline, as for unary calls. */
function deadlineReason(id: string): Error {
  const err = new Error(`deadline exceeded for ${id}`);
  err.name = 'TimeoutError';
  return err;
}
