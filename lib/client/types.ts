/**
 * The typed client: `client.service<Greeter>('greeter')` has one method per handler method, taking the handler's
 * request type and resolving to its reply type, with no code generation. A handler's trailing Context parameter is
 * not part of the client signature; call options take its place.
 */

export interface CallOptions {
  /** Milliseconds the whole call may take, retries included (default: --client_request_timeout, 5 s). */
  timeout?: number;
  /** Extra attempts after a transport failure (default: --client_retries). Handler errors are never retried. */
  retries?: number;
  /** Metadata sent with the call; merged over the metadata inherited from the request being handled. */
  metadata?: Record<string, string>;
  /** Only nodes of this service version. */
  version?: string;
  /** Selector strategy for this call. */
  strategy?: string;
  /** Codec for this call (default: --codec). */
  codec?: string;
  signal?: AbortSignal;
}

type AnyFn = (...args: any[]) => any;

/**
 * The replies of a server or bidi stream: iterate it with `for await`. Leaving the loop early, or `cancel()`, cancels
 * the call (the server's signal aborts); iteration then ends. A failed call throws its RpcError from the iteration,
 * after the replies that came before the failure.
 */
export interface ClientStream<T> extends AsyncIterable<T> {
  /** Stops the call: the server is told, and this stream's iteration ends. */
  cancel(reason?: string): void;
}

/** What the client gets for a handler's return type: a ClientStream for a stream of replies, else the value. */
export type ClientReply<R> = R extends AsyncIterable<infer T> ? ClientStream<T> : ReplyValue<Awaited<R>>;
/** Distributive on purpose: `never` (a handler that always throws) stays never instead of matching AsyncIterable. */
type ReplyValue<V> = V extends AsyncIterable<infer T> ? ClientStream<T> : V;

/**
 * Client-side signature of one handler method. A handler taking an AsyncIterable takes a request stream (client or
 * bidi streaming); one returning an AsyncIterable answers with a ClientStream, which the promise resolves to once the
 * server accepted the call (a 400 or 404 rejects it before any iteration).
 */
export type ClientMethod<F> = F extends AnyFn
  ? Parameters<F> extends []
    ? (request?: undefined, options?: CallOptions) => Promise<ClientReply<ReturnType<F>>>
    : Parameters<F>[0] extends AsyncIterable<infer Q>
      ? (requests: AsyncIterable<Q>, options?: CallOptions) => Promise<ClientReply<ReturnType<F>>>
      : (request: Parameters<F>[0], options?: CallOptions) => Promise<ClientReply<ReturnType<F>>>
  : never;

/** The typed proxy for a handler class. */
export type ClientOf<T> = {
  readonly [K in keyof T as T[K] extends AnyFn ? K : never]: ClientMethod<T[K]>;
};

export interface PublishOptions {
  metadata?: Record<string, string>;
  codec?: string;
  /** Milliseconds the publish may take (default: the client's request timeout). */
  timeout?: number;
}
