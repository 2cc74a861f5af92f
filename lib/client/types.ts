import type { SelectedNode } from '../selector/selector';
import type { Metadata } from '../transport/transport';

/**
 * The typed client: `client.service<Greeter>('greeter')` has one method per handler method, taking the handler's
 * request type and resolving to its reply type, with no code generation. A handler's trailing Context parameter is
 * not part of the client signature; call options take its place.
 */

/**
 * What happens when an attempt fails with a retryable error (a connection failure or a 503 from a server that is
 * shutting down). Errors the handler raised and deadline/cancel errors are never retried, whatever the mode.
 * - failfast: one attempt, whatever `retries` says;
 * - failtry: retry on the same node;
 * - failover: select again for every attempt, so a retry reaches another node (the default);
 * - failbackup: a hedged call: when the first attempt has not answered within `backupDelay`, send a second one to
 *   another node; the first answer wins and the other is cancelled.
 */
export type FailMode = 'failfast' | 'failtry' | 'failover' | 'failbackup';
export const FAIL_MODES: readonly FailMode[] = ['failfast', 'failtry', 'failover', 'failbackup'];

export interface CallOptions {
  /** Milliseconds the whole call may take, retries included (default: --client_request_timeout, 5 s). */
  timeout?: number;
  /** Extra attempts after a retryable failure (default: --client_retries). Attempts = retries + 1. */
  retries?: number;
  /** How failures are handled (default: the client's, `failover`). */
  failMode?: FailMode;
  /** failbackup: ms to wait for the first attempt before sending the backup (default: the client's, 10 ms). */
  backupDelay?: number;
  /** Key for the `hash` strategy: the same key reaches the same node while the node set is stable. */
  key?: string;
  /** Only nodes whose metadata carries all these labels. */
  labels?: Record<string, string>;
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

/** One attempt of a call, as client call wrappers see it: the node is already chosen. */
export interface Attempt {
  readonly service: string;
  readonly endpoint: string;
  /** The node this attempt goes to (the process itself for an in-process call). */
  readonly node: SelectedNode;
  /** 0 for the first attempt. */
  readonly attempt: number;
  readonly request: unknown;
  /** Metadata sent with this attempt; a wrapper may pass on a copy with more entries. */
  readonly metadata: Metadata | undefined;
  /** Epoch ms by which the whole call must be over. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
}

/** Sends one attempt and resolves with the decoded reply (or rejects with an RpcError). */
export type AttemptFn = (attempt: Attempt) => Promise<unknown>;

/**
 * Wraps every attempt of every call (tracing, auth headers, client metrics...). Composed once when the client is
 * built; `next` sends the attempt on. Outermost first, like server handler wrappers.
 */
export type CallWrapper = (next: AttemptFn) => AttemptFn;
