import { currentContext } from '../context';
import type { Codec, CodecTable } from '../codec';
import { errors, RpcError } from '../errors';
import type { Logger } from '../observe/logger';
import { SERVER_ERROR_ID } from '../server/server';
import type { Selector } from '../selector/selector';
import { MessageKind, TRANSPORT_ERROR_ID, type Message, type Metadata, type Transport } from '../transport/transport';
import { Pool } from './pool';
import type { Broker } from '../broker/broker';
import { callWithStream, replyStream } from './stream';
import { isAsyncIterable } from '../transport/stream-channel';
import type { CallOptions, ClientOf, PublishOptions } from './types';

/**
 * The Client makes calls: it picks a node per attempt through the selector, sends over a pooled transport socket
 * and decodes the reply. Every call has one deadline covering every attempt; its remaining time travels to the
 * server. Metadata of the request being handled (AsyncLocalStorage) flows into the call by itself, and a nested
 * call never outlives its parent's deadline. Only transport failures and a draining server's 503 are retried;
 * errors a handler raised come back as they are.
 */

export interface ClientOptions {
  transport: Transport;
  selector: Selector;
  /** Needed for publish(). */
  broker?: Broker;
  codecs: CodecTable;
  /** Default codec name. */
  codec: string;
  logger: Logger;
  retries?: number;
  timeout?: number;
  poolSize?: number;
  /** Base for the pause between attempts, in ms (doubled each retry, with jitter). */
  backoff?: number;
}

export class Client {
  private readonly selector: Selector;
  private readonly codecs: CodecTable;
  private readonly codec: Codec;
  private readonly logger: Logger;
  private readonly pool: Pool;
  readonly retries: number;
  readonly timeout: number;
  private readonly backoff: number;
  private readonly broker: Broker | undefined;
  private brokerReady: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    this.broker = options.broker;
    this.selector = options.selector;
    this.codecs = options.codecs;
    const codec = options.codecs.named(options.codec);
    if (!codec) throw new Error(`unknown codec "${options.codec}"`);
    this.codec = codec;
    this.logger = options.logger;
    this.retries = options.retries ?? 1;
    this.timeout = options.timeout ?? 5000;
    this.backoff = options.backoff ?? 10;
    this.pool = new Pool(options.transport, options.poolSize ?? 1, { connectTimeout: Math.min(this.timeout, 3000) });
  }

  /** Calls `service.endpoint` with `request`; resolves with the decoded reply or rejects with an RpcError. */
  async call<T = unknown>(service: string, endpoint: string, request?: unknown, options: CallOptions = {}): Promise<T> {
    const parent = currentContext();
    const started = Date.now();
    let deadline = started + (options.timeout ?? this.timeout);
    if (parent && parent.deadline > 0 && parent.deadline < deadline) deadline = parent.deadline;
    const codec = options.codec ? this.codecNamed(options.codec) : this.codec;
    const metadata = mergeMetadata(parent?.metadata, options.metadata);
    const body = codec.encode(request);
    const retries = options.retries ?? this.retries;

    // Warm lookups are synchronous: awaiting them would cost a suspension per call for nothing.
    const picked = this.selector.select(service, { version: options.version, strategy: options.strategy });
    const next = picked instanceof Promise ? await picked : picked;
    for (let attempt = 0; ; attempt++) {
      const node = next();
      if (!node) throw errors.unavailable('phobos.client', `no node of ${service} left to try`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw errors.timeout('phobos.client', `${service}.${endpoint} timed out after ${Date.now() - started} ms`);
      const message: Message = {
        kind: MessageKind.request,
        id: 0,
        codec: codec.id,
        service,
        endpoint,
        timeout: remaining,
        metadata,
        error: false,
        body,
      };
      let reply: Message;
      try {
        const got = this.pool.get(node.address);
        const socket = got instanceof Promise ? await got : got;
        reply = await socket.request(message, { timeout: remaining, signal: options.signal });
      } catch (err) {
        const e = err instanceof RpcError ? err : errors.unavailable(TRANSPORT_ERROR_ID, (err as Error).message);
        this.selector.mark(service, node, e);
        if (!e.retryable || attempt >= retries) throw e;
        this.logger.debug({ service, endpoint, node: node.id, attempt, err: e.detail }, 'retrying after a transport failure');
        await this.pause(attempt, deadline);
        continue;
      }
      if (!reply.error) {
        this.selector.mark(service, node);
        // A server-streaming endpoint answers with a stream instead of one value.
        return (reply.channel ? replyStream(reply.channel, this.codecs) : this.decode(reply)) as T;
      }
      const failure = RpcError.from(this.decode(reply) as RpcError);
      // A server (or its transport) that is shutting down answers 503 before doing any work: safe to try elsewhere.
      if (failure.code === 503 && (failure.id === SERVER_ERROR_ID || failure.id === TRANSPORT_ERROR_ID)) {
        this.selector.mark(service, node, failure);
        if (attempt < retries) {
          await this.pause(attempt, deadline);
          continue;
        }
      } else this.selector.mark(service, node);
      throw failure;
    }
  }

  /**
   * Like call(), but `input` may be an AsyncIterable: its items go to the server as a request stream (client or bidi
   * streaming). Resolves once the server answered: with the reply, or a ClientStream when the reply is a stream.
   */
  stream<T = unknown>(service: string, endpoint: string, input: unknown, options: CallOptions = {}): Promise<T> {
    if (!isAsyncIterable(input)) return this.call<T>(service, endpoint, input, options);
    const { selector, pool, codecs, codec, timeout, retries } = this;
    return callWithStream<T>({ selector, pool, codecs, codec, timeout, retries }, service, endpoint, input, options);
  }

  /** Publishes an event; subscribers in any process receive it. Metadata of the current request flows along. */
  async publish(topic: string, payload: unknown, options: PublishOptions = {}): Promise<void> {
    if (!this.broker) throw errors.unavailable('phobos.client', 'this client has no broker');
    const codec = options.codec ? this.codecNamed(options.codec) : this.codec;
    const metadata = mergeMetadata(currentContext()?.metadata, options.metadata) ?? {};
    this.brokerReady ??= this.broker.connect();
    await this.brokerReady;
    await this.broker.publish({ topic, codec: codec.id, body: codec.encode(payload), metadata }, { timeout: options.timeout ?? this.timeout });
  }

  /** A typed proxy: one method per handler method. */
  service<T>(name: string, defaults: CallOptions = {}): ClientOf<T> {
    const methods = new Map<string, unknown>();
    return new Proxy({} as ClientOf<T>, {
      get: (_target, prop) => {
        if (typeof prop !== 'string' || prop === 'then') return undefined;
        let fn = methods.get(prop);
        if (!fn) {
          fn = (request?: unknown, options?: CallOptions) => {
            const o = options ? { ...defaults, ...options } : defaults;
            // A request stream needs stream(); otherwise the server's answer tells one value from a stream.
            return isAsyncIterable(request) ? this.stream(name, prop, request, o) : this.call(name, prop, request, o);
          };
          methods.set(prop, fn);
        }
        return fn;
      },
    });
  }

  close(): void {
    this.pool.close();
  }

  private decode(reply: Message): unknown {
    const codec = this.codecs.get(reply.codec);
    if (!codec) throw errors.internal('phobos.client', `reply in unknown codec id ${reply.codec}`);
    return codec.decode(reply.body);
  }

  private codecNamed(name: string): Codec {
    const c = this.codecs.named(name);
    if (!c) throw errors.badRequest('phobos.client', `unknown codec "${name}"`);
    return c;
  }

  /** Exponential backoff with full jitter, never past the deadline. */
  private pause(attempt: number, deadline: number): Promise<void> {
    const ms = Math.min(Math.random() * this.backoff * 2 ** attempt, Math.max(0, deadline - Date.now() - 1));
    return ms < 1 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
  }
}

function mergeMetadata(inherited: Metadata | undefined, own: Metadata | undefined): Metadata | undefined {
  if (!inherited || Object.keys(inherited).length === 0) return own;
  if (!own) return inherited;
  return { ...inherited, ...own };
}
