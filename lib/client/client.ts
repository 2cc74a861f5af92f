import type { Broker } from '../broker/broker';
import type { Codec, CodecTable } from '../codec';
import { currentContext } from '../context';
import { errors, RpcError } from '../errors';
import type { Logger } from '../observe/logger';
import type { Next, SelectedNode, Selector } from '../selector/selector';
import type { CompiledEndpoint } from '../server/endpoint';
import type { Server } from '../server/server';
import { MessageKind, type DialOptions, type Message, type Metadata, type Transport } from '../transport/transport';
import { hedged } from './hedge';
import { Pool } from './pool';
import { asRpcError, backoff, isRetryable } from './retry';
import { callDeadline, codecFor, decodeReply, mergeMetadata } from './scope';
import { callWithStream, replyStream } from './stream';
import { isAsyncIterable } from '../transport/stream-channel';
import type { Attempt, AttemptFn, CallOptions, CallWrapper, ClientOf, FailMode, PublishOptions } from './types';

/**
 * The Client makes calls. Per call: one deadline covering every attempt (its remaining time travels to the server),
 * metadata inherited from the request being handled (AsyncLocalStorage), and a fail mode deciding what a retryable
 * failure leads to (types.ts). Per attempt: the selector picks a node, the call wrappers run (composed once, here in
 * the constructor), the request goes over a pooled socket, and the outcome is marked back to the selector so
 * strategies and breakers learn from it. A call to a service this process serves itself skips all of that transport
 * machinery: the in-process fast path.
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
  /** Default fail mode (failover). */
  failMode?: FailMode;
  /** Default failbackup delay in ms (10). */
  backupDelay?: number;
  /** Call wrappers, outermost first; they run for every attempt, in-process ones included. */
  wrappers?: CallWrapper[];
  /** Options for every connection the client dials (heartbeat settings, frame limits...). */
  dialOptions?: DialOptions;
  /** Told about every call (once, retries included) and every publish: client metrics. Absent, nothing is measured. */
  observer?: CallObserver;
}

/**
 * What client metrics see. Wrappers see attempts; a call's duration, its retries and its final code need the client
 * itself, so it calls `series` once per call (the observer keeps one object per endpoint: a lookup, not a build),
 * `begin` when the call starts, `retry` before each attempt after the first, and `end` once with the outcome.
 */
export interface CallObserver {
  series(service: string, endpoint: string): CallSeries;
  /** A publish through this client finished: `error` is undefined when the broker took the event. */
  published(topic: string, error: unknown): void;
}

export interface CallSeries {
  /** Returns the start time (performance.now()) to hand back to `end`. */
  begin(): number;
  /** `now`: the current performance.now() when the caller has just read it (clock reads are the cost that shows). */
  end(started: number, error: unknown, now?: number): void;
  retry(): void;
}

/** Where the in-process fast path finds a service: the Server of this process, and the node it registers as. */
export interface LocalServices {
  server: Server;
  /** The node record per service name this process serves. */
  node(service: string): SelectedNode | undefined;
}

/** The per-call state an attempt carries, so the body is encoded once however many attempts there are. */
const CALL = Symbol('phobos.call');
interface CallState {
  codec: Codec;
  request: unknown;
  body: Uint8Array | undefined;
}
type SentAttempt = Attempt & { [CALL]?: CallState; local?: CompiledEndpoint };

export class Client {
  private readonly selector: Selector;
  private readonly codecs: CodecTable;
  private readonly codec: Codec;
  private readonly logger: Logger;
  private readonly pool: Pool;
  readonly retries: number;
  readonly timeout: number;
  readonly failMode: FailMode;
  private readonly backupDelay: number;
  private readonly backoff: number;
  private readonly broker: Broker | undefined;
  private brokerReady: Promise<void> | undefined;
  private local: LocalServices | undefined;
  /** The wrapper chains, composed once: one ending on the network, one ending in this process's server. */
  private readonly sendRemote: AttemptFn;
  private readonly sendLocal: AttemptFn | undefined;
  private readonly observer: CallObserver | undefined;

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
    this.failMode = options.failMode ?? 'failover';
    this.backupDelay = options.backupDelay ?? 10;
    this.backoff = options.backoff ?? 10;
    this.pool = new Pool(options.transport, {
      size: options.poolSize ?? 1,
      dialOptions: { connectTimeout: Math.min(this.timeout, 3000), ...options.dialOptions },
      // A connection that died (missed heartbeat, reset) takes its node out of selection for a while.
      onDead: (address, err) => this.selector.markAddress?.(address, err),
    });
    const wrappers = options.wrappers ?? [];
    this.sendRemote = compose(wrappers, this.sendOverNetwork);
    this.sendLocal = wrappers.length ? compose(wrappers, this.sendInProcess) : undefined;
    this.observer = options.observer;
  }

  /** Turns on the in-process fast path for the services `local` serves (the Service does this once started). */
  serveLocally(local: LocalServices | undefined): void {
    this.local = local;
  }

  /** Calls `service.endpoint` with `request`; resolves with the decoded reply or rejects with an RpcError. */
  call<T = unknown>(service: string, endpoint: string, request?: unknown, options: CallOptions = {}): Promise<T> {
    const series = this.observer?.series(service, endpoint);
    const parent = currentContext();
    const now = Date.now();
    const deadline = callDeadline(now, options.timeout ?? this.timeout, parent);
    const metadata = mergeMetadata(parent?.metadata, options.metadata);
    if (this.local) {
      const ep = this.local.server.localEndpoint(service, endpoint);
      if (ep && this.localFits(ep, options)) {
        const local = () =>
          deadline <= now
            ? Promise.reject(errors.timeout('phobos.client', `${service}.${endpoint}: the deadline has already passed`))
            : this.callInProcess(ep, request, metadata, deadline, options);
        return (series === undefined ? local() : observed(series, series.begin(), local)) as Promise<T>;
      }
    }
    return this.callRemote(service, endpoint, request, metadata, deadline, options, series) as Promise<T>;
  }

  /**
   * Like call(), but `input` may be an AsyncIterable: its items go to the server as a request stream (client or bidi
   * streaming). Resolves once the server answered: with the reply, or a ClientStream when the reply is a stream.
   */
  stream<T = unknown>(service: string, endpoint: string, input: unknown, options: CallOptions = {}): Promise<T> {
    if (!isAsyncIterable(input)) return this.call<T>(service, endpoint, input, options);
    const { selector, pool, codecs, codec, timeout, retries } = this;
    const send = () => callWithStream<T>({ selector, pool, codecs, codec, timeout, retries }, service, endpoint, input, options);
    if (this.observer === undefined) return send();
    const series = this.observer.series(service, endpoint);
    return observed(series, series.begin(), send) as Promise<T>;
  }

  /** Publishes an event; subscribers in any process receive it. Metadata of the current request flows along. */
  publish(topic: string, payload: unknown, options: PublishOptions = {}): Promise<void> {
    const observer = this.observer;
    if (observer === undefined) return this.publishEvent(topic, payload, options);
    return this.publishEvent(topic, payload, options).then(
      () => observer.published(topic, undefined),
      (err: unknown) => {
        observer.published(topic, err);
        throw err;
      },
    );
  }

  private async publishEvent(topic: string, payload: unknown, options: PublishOptions): Promise<void> {
    if (!this.broker) throw errors.unavailable('phobos.client', 'this client has no broker');
    const codec = codecFor(this.codecs, options.codec, this.codec);
    const metadata = mergeMetadata(currentContext()?.metadata, options.metadata) ?? {};
    this.brokerReady ??= this.broker.connect();
    try {
      await this.brokerReady;
    } catch (err) {
      // An engine broker's connect() fails while its server is down; the next publish must be able to try again.
      this.brokerReady = undefined;
      throw err;
    }
    await this.broker.publish({ topic, codec: codec.id, body: codec.encode(payload, '', topic, 'event'), metadata }, { timeout: options.timeout ?? this.timeout });
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

  /** A local call is taken unless the call asks for something this process's node may not be (a version, labels, a key). */
  private localFits(ep: CompiledEndpoint, options: CallOptions): boolean {
    // Streams need the transport's flow control and cancel frames: they always go over a transport.
    if (ep.stream || options.key !== undefined) return false;
    if (options.version && options.version !== ep.info.version) return false;
    if (options.labels) {
      const meta = this.local?.node(ep.info.service)?.metadata ?? {};
      for (const [k, v] of Object.entries(options.labels)) if (meta[k] !== v) return false;
    }
    return true;
  }

  private callInProcess(ep: CompiledEndpoint, request: unknown, metadata: Metadata | undefined, deadline: number, options: CallOptions): Promise<unknown> {
    if (!this.sendLocal) return this.local!.server.callLocal(ep, request, metadata, deadline);
    const node = this.local!.node(ep.info.service);
    if (!node) return this.local!.server.callLocal(ep, request, metadata, deadline);
    const attempt: SentAttempt = { service: ep.info.service, endpoint: ep.info.endpoint, node, attempt: 0, request, metadata, deadline, signal: options.signal, local: ep };
    return this.sendLocal(attempt);
  }

  private async callRemote(
    service: string,
    endpoint: string,
    request: unknown,
    metadata: Metadata | undefined,
    deadline: number,
    options: CallOptions,
    series: CallSeries | undefined,
  ): Promise<unknown> {
    // Observed inside this async function rather than around its promise: metrics add no promise per call.
    const began = series === undefined ? 0 : series.begin();
    // When observed, the clock reads of the first attempt double as the call's (each read costs ~70 ns).
    let ended: number | undefined;
    let failure: unknown;
    try {
      const state: CallState = { codec: codecFor(this.codecs, options.codec, this.codec), request, body: undefined };
      // Warm lookups are synchronous: awaiting them would cost a suspension per call for nothing.
      const picked = this.selector.select(service, { version: options.version, strategy: options.strategy, labels: options.labels, endpoint, key: options.key });
      const next = picked instanceof Promise ? await picked : picked;
      const mode = options.failMode ?? this.failMode;
      const attempts = mode === 'failfast' ? 1 : (options.retries ?? this.retries) + 1;
      if (mode === 'failbackup' || mode === 'failtry') {
        const send: AttemptSender = (node, attempt, signal, quiet) => {
          if (attempt > 0) series?.retry();
          const a: SentAttempt = { service, endpoint, node, attempt, request, metadata, deadline, signal: signal ?? options.signal, [CALL]: state };
          return this.attemptOn(a, quiet);
        };
        // Awaited only when observed, so the finally below sees the outcome; unobserved, no extra suspension.
        if (mode === 'failtry') {
          const p = this.retrySameNode(service, next, send, attempts, deadline);
          return series === undefined ? p : await p;
        }
        if (attempts > 1) {
          const p = hedged({ next, send, attempts, delay: options.backupDelay ?? this.backupDelay, signal: options.signal, service });
          return series === undefined ? p : await p;
        }
      }
      // failfast and failover, the common case, inline: every attempt asks the selector again, so a retry reaches
      // another node, and the outcome is marked right here (no extra promise per attempt).
      for (let attempt = 0; ; attempt++) {
        ended = undefined; // a later failure (no node left, a deadline) ends the call at its own time
        const node = this.nextNode(service, next, deadline);
        if (attempt > 0) series?.retry();
        const a: SentAttempt = { service, endpoint, node, attempt, request, metadata, deadline, signal: options.signal, [CALL]: state };
        const started = attempt === 0 && series !== undefined ? began : performance.now();
        try {
          const value = await this.sendRemote(a);
          ended = this.markAttempt(a, started, undefined);
          return value;
        } catch (err) {
          const e = asRpcError(err);
          ended = this.markAttempt(a, started, e);
          if (!isRetryable(e) || attempt + 1 >= attempts) throw e;
          this.logger.debug({ service, node: node.id, attempt, err: e.detail }, 'retrying on another node');
          await backoff(this.backoff, attempt, deadline);
        }
      }
    } catch (err) {
      failure = err ?? new Error('call failed');
      throw err;
    } finally {
      series?.end(began, failure, ended);
    }
  }

  /**
   * failtry: the attempts all go to the node chosen first. The selector is told the outcome once, at the end (it
   * handed the node out once).
   */
  private async retrySameNode(service: string, next: Next, send: AttemptSender, attempts: number, deadline: number): Promise<unknown> {
    const node = this.nextNode(service, next, deadline);
    for (let attempt = 0; ; attempt++) {
      try {
        return await send(node, attempt, undefined, attempt + 1 < attempts);
      } catch (err) {
        if (!isRetryable(err) || attempt + 1 >= attempts) throw err;
        await backoff(this.backoff, attempt, deadline);
      }
    }
  }

  private nextNode(service: string, next: Next, deadline: number): SelectedNode {
    if (deadline <= Date.now()) throw errors.timeout('phobos.client', `call to ${service} timed out`);
    const node = next();
    if (!node) throw errors.unavailable('phobos.client', `no node of ${service} left to try`);
    return node;
  }

  /** Runs one attempt through the wrappers and reports its outcome to the selector (unless `quiet`, for failtry). */
  private attemptOn(a: SentAttempt, quiet = false): Promise<unknown> {
    const started = performance.now();
    return this.sendRemote(a).then(
      (value) => {
        this.markAttempt(a, started, undefined);
        return value;
      },
      (err) => {
        const e = asRpcError(err);
        if (!(quiet && isRetryable(e))) this.markAttempt(a, started, e);
        throw e;
      },
    );
  }

  /** Tells the selector how an attempt went (the rule: once per node handed out, any error included). */
  private markAttempt(a: SentAttempt, started: number, err: RpcError | undefined): number {
    const now = performance.now();
    this.selector.mark(a.service, a.node, err, { endpoint: a.endpoint, rtt: now - started });
    return now;
  }

  /** The end of the remote wrapper chain: encode (once per call), send over a pooled socket, decode the answer. */
  private readonly sendOverNetwork = async (a: SentAttempt): Promise<unknown> => {
    const remaining = a.deadline - Date.now();
    if (remaining <= 0) throw errors.timeout('phobos.client', `${a.service}.${a.endpoint} timed out`);
    const state = a[CALL];
    const codec = state?.codec ?? this.codec;
    let body: Uint8Array;
    if (state && state.request === a.request) body = state.body ??= codec.encode(a.request, a.service, a.endpoint, 'request');
    else body = codec.encode(a.request, a.service, a.endpoint, 'request');
    const message: Message = {
      kind: MessageKind.request,
      id: 0,
      codec: codec.id,
      service: a.service,
      endpoint: a.endpoint,
      timeout: remaining,
      metadata: a.metadata,
      error: false,
      body,
    };
    const got = this.pool.get(a.node.address);
    const socket = got instanceof Promise ? await got : got;
    const reply = await socket.request(message, { timeout: remaining, signal: a.signal });
    // A server-streaming endpoint answers with a stream instead of one value.
    if (reply.channel && !reply.error) return replyStream(reply.channel, this.codecs, a.service, a.endpoint);
    const decoded = decodeReply(this.codecs, reply, a.service, a.endpoint);
    if (reply.error) throw RpcError.from(decoded as RpcError);
    return decoded;
  };

  /** The end of the local wrapper chain. */
  private readonly sendInProcess = (a: SentAttempt): Promise<unknown> => {
    const ep = a.local ?? this.local?.server.localEndpoint(a.service, a.endpoint);
    if (!ep) return Promise.reject(errors.unavailable('phobos.client', `${a.service} is no longer served in this process`));
    return this.local!.server.callLocal(ep, a.request, a.metadata, a.deadline);
  };
}

/** Runs `call`, telling `series` how it ended (once). */
function observed(series: CallSeries, started: number, call: () => Promise<unknown>): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = call();
  } catch (err) {
    series.end(started, err);
    throw err;
  }
  return p.then(
    (value) => {
      series.end(started, undefined);
      return value;
    },
    (err: unknown) => {
      series.end(started, err);
      throw err;
    },
  );
}

type AttemptSender = (node: SelectedNode, attempt: number, signal: AbortSignal | undefined, quiet?: boolean) => Promise<unknown>;

function compose(wrappers: readonly CallWrapper[], last: AttemptFn): AttemptFn {
  let fn = last;
  for (let i = wrappers.length - 1; i >= 0; i--) fn = wrappers[i](fn);
  return fn;
}
