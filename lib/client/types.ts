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

/** Client-side signature of one handler method. */
export type ClientMethod<F> = F extends AnyFn
  ? Parameters<F> extends []
    ? (request?: undefined, options?: CallOptions) => Promise<Awaited<ReturnType<F>>>
    : (request: Parameters<F>[0], options?: CallOptions) => Promise<Awaited<ReturnType<F>>>
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
