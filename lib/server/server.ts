import { RequestContext, storage } from '../context';
import type { CodecTable } from '../codec';
import { CODEC_IDS } from '../codec';
import { errors, RpcError } from '../errors';
import type { Logger } from '../observe/logger';
import { DeadlineTimer, type Expiring } from '../deadlines';
import { responseTo, type Message, type Metadata, type PeerInfo, type Reply } from '../transport/transport';
import type { CompiledEndpoint } from './endpoint';
import { serveStream, type StreamHost } from './stream';

/**
 * The Server answers request frames: it finds the compiled endpoint, decodes the body with the codec the caller
 * chose, runs the pre-composed handler inside the request's Context and encodes the reply (or the error) with the
 * same codec. It counts in-flight requests so a stopping service can drain them, and refuses new work with a
 * retryable 503 once draining has begun.
 */

export interface ServerOptions {
  codecs: CodecTable;
  logger: Logger;
  /** Include stack traces in 500 errors (development only). */
  dev?: boolean;
  /**
   * Run handlers inside AsyncLocalStorage so calls they make inherit metadata and deadline by themselves (default
   * true). Off, handlers still get their Context as an argument but nested calls must pass it on explicitly; on Node
   * 20 this spares every promise of the process the async-hook cost AsyncLocalStorage brings.
   */
  propagateContext?: boolean;
  /** The node id announced in the registry, reported by the health endpoint. */
  node?: string;
}

/**
 * The reserved endpoint every served service answers (docs/protocol.md, Health). A `.` cannot appear in a JavaScript
 * method name, so no decorated method clashes by its default name, and add() refuses it as an explicit one.
 */
export const HEALTH_ENDPOINT = 'phobos.health';

/** What the health endpoint answers. `draining` is a normal answer, not an error: the node is alive but leaving. */
export interface HealthReport {
  status: 'serving' | 'draining';
  service: string;
  /** Requests (and open streams) being served by this server, over all its services; the probe not included. */
  inFlight: number;
  /** Seconds since the server was created, to the millisecond. */
  uptime: number;
  node?: string;
}

type Invoker = (ctx: RequestContext, endpoint: CompiledEndpoint, request: unknown) => unknown;
const invokeInContext: Invoker = (ctx, endpoint, request) => storage.run(ctx, endpoint.invoke, request, ctx);
const invokeDirectly: Invoker = (ctx, endpoint, request) => endpoint.invoke(request, ctx);

/** The id of errors raised by the server machinery itself rather than by a handler; clients may retry these. */
export const SERVER_ERROR_ID = 'phobos.server';

export class Server {
  private readonly endpoints = new Map<string, Map<string, CompiledEndpoint>>();
  private readonly codecs: CodecTable;
  private readonly logger: Logger;
  private readonly dev: boolean;
  private readonly node: string | undefined;
  private readonly createdAt = Date.now();
  private active = 0;
  private isDraining = false;
  private idleWaiters: (() => void)[] = [];
  /** Deadlines of in-process calls, all on one timer. */
  private readonly localDeadlines = new DeadlineTimer();
  /** Runs a compiled endpoint for a Context: inside AsyncLocalStorage or not (ServerOptions.propagateContext). */
  readonly invoke: Invoker;
  /** Called after each request has been answered (Functions stop after the first). */
  onAnswered: (() => void) | undefined;
  /** What streaming calls (lib/server/stream.ts) use of this server: drain accounting and error conversion. */
  private readonly streams: StreamHost;

  constructor(options: ServerOptions) {
    this.codecs = options.codecs;
    this.logger = options.logger;
    this.dev = options.dev ?? false;
    this.node = options.node;
    this.invoke = options.propagateContext === false ? invokeDirectly : invokeInContext;
    this.streams = {
      logger: this.logger,
      begin: () => void this.active++,
      end: () => this.done(),
      errorFrame: (msg, err) => this.errorFrame(msg, err),
      toRpcError: (err, endpoint) => this.toRpcError(err, endpoint),
      within: options.propagateContext === false ? (_ctx, fn) => fn() : (ctx, fn) => storage.run(ctx, fn),
    };
  }

  add(endpoint: CompiledEndpoint): void {
    const { service, endpoint: name } = endpoint.info;
    let byName = this.endpoints.get(service);
    if (!byName) this.endpoints.set(service, (byName = new Map()));
    if (byName.has(name)) throw new Error(`endpoint ${service}.${name} is registered twice`);
    if (name === HEALTH_ENDPOINT) throw new Error(`endpoint name ${name} is reserved for health checks (${service})`);
    byName.set(name, endpoint);
  }

  /** True once drain() has begun: new requests are refused with 503. */
  get draining(): boolean {
    return this.isDraining;
  }

  get inFlight(): number {
    return this.active;
  }

  /** The health of `service` as the reserved endpoint reports it; undefined when this server does not serve it. */
  health(service: string): HealthReport | undefined {
    if (!this.endpoints.has(service)) return undefined;
    const report: HealthReport = {
      status: this.isDraining ? 'draining' : 'serving',
      service,
      inFlight: this.active,
      uptime: (Date.now() - this.createdAt) / 1000,
    };
    if (this.node !== undefined) report.node = this.node;
    return report;
  }

  /** The transport's RequestHandler; bound so it can be passed as is. */
  readonly handle = (msg: Message, reply: Reply, peer: PeerInfo): void => {
    if (this.isDraining) {
      // A health probe gets its answer ("draining") rather than the 503 every other request gets now.
      if (msg.endpoint === HEALTH_ENDPOINT && this.endpoints.has(msg.service)) return reply(this.healthFrame(msg));
      reply(this.errorFrame(msg, errors.unavailable(SERVER_ERROR_ID, 'server is shutting down')));
      return;
    }
    const endpoint = this.endpoints.get(msg.service)?.get(msg.endpoint);
    if (!endpoint) {
      // Health is looked for only once the endpoint lookup missed: the normal path pays nothing for it.
      if (msg.endpoint === HEALTH_ENDPOINT && this.endpoints.has(msg.service)) return reply(this.healthFrame(msg));
      const what = this.endpoints.has(msg.service) ? `endpoint ${msg.service}.${msg.endpoint}` : `service ${msg.service}`;
      reply(this.errorFrame(msg, errors.notFound(SERVER_ERROR_ID, `unknown ${what}`)));
      return;
    }
    const codec = this.codecs.get(msg.codec);
    if (!codec) {
      reply(this.errorFrame(msg, errors.badRequest(SERVER_ERROR_ID, `unknown codec id ${msg.codec}`)));
      return;
    }
    if (endpoint.stream !== undefined || msg.stream === true) return serveStream(this.streams, msg, reply, peer, endpoint, codec);
    let request: unknown;
    try {
      request = codec.decode(msg.body, msg.service, msg.endpoint, 'request');
    } catch (err) {
      reply(this.errorFrame(msg, errors.badRequest(SERVER_ERROR_ID, `malformed ${codec.name} body: ${(err as Error).message}`)));
      return;
    }

    const ctx = new RequestContext(msg.service, msg.endpoint, msg.metadata, msg.timeout, this.logger);
    this.active++;
    peer.onCancel(msg.id, () => ctx.cancel(errors.cancelled(SERVER_ERROR_ID, 'the caller cancelled the request')));
    const meter = endpoint.meter;
    const started = meter === undefined ? 0 : meter.start();
    const settle = (frame: Message, code: number) => {
      peer.clearCancel(msg.id);
      ctx.finish();
      reply(frame);
      this.done();
      if (meter !== undefined) meter.stop(started, code);
    };
    const fail = (err: RpcError) => settle(this.errorFrame(msg, err), err.code);
    let result: unknown;
    try {
      result = this.invoke(ctx, endpoint, request);
    } catch (err) {
      fail(this.toRpcError(err, endpoint));
      return;
    }
    // Past the deadline the caller has given up: whatever the handler produced, the honest answer is 408.
    const late = () => ctx.deadline > 0 && Date.now() >= ctx.deadline;
    const onValue = (value: unknown) => {
      if (late()) return fail(this.deadlineError(endpoint));
      const frame = this.replyFrame(msg, value, endpoint);
      settle(frame, frame.error ? 500 : 200);
    };
    const onError = (err: unknown) => fail(late() ? this.deadlineError(endpoint) : this.toRpcError(err, endpoint));
    if (result instanceof Promise) result.then(onValue, onError);
    else onValue(result);
  };

  /** The names of the endpoints served for `service` (none for a service not served here). */
  endpointNames(service: string): string[] {
    return [...(this.endpoints.get(service)?.keys() ?? [])];
  }

  /**
   * The endpoint for an in-process call, or undefined when this process does not serve it or is draining (the caller
   * then goes over the network like any other client).
   */

  localEndpoint(service: string, endpoint: string): CompiledEndpoint | undefined {
    return this.isDraining ? undefined : this.endpoints.get(service)?.get(endpoint);
  }

  /**
   * The in-process fast path: runs `endpoint` for a caller in this process with no transport and no codec (the request
   * and reply objects are passed as they are), yet with everything else a network request gets: its own Context,
   * validation, the wrapper chain (bulkhead included), the deadline (the call fails with 408 when it passes and the
   * handler's signal aborts), error conversion and drain accounting.
   */
  callLocal(endpoint: CompiledEndpoint, request: unknown, metadata: Metadata | undefined, deadline: number): Promise<unknown> {
    const { service, endpoint: name } = endpoint.info;
    // The handler's Context owns its metadata (it may add a request id), so it gets a copy of the caller's.
    const ctx = new RequestContext(service, name, metadata ? { ...metadata } : undefined, 0, this.logger, deadline);
    this.active++;
    const started = endpoint.meter === undefined ? 0 : endpoint.meter.start();
    let result: unknown;
    try {
      result = this.invoke(ctx, endpoint, request);
    } catch (err) {
      const e = this.toRpcError(err, endpoint);
      this.finishLocal(ctx, endpoint, started, e.code);
      return Promise.reject(e);
    }
    if (!(result instanceof Promise)) {
      const late = Date.now() >= ctx.deadline;
      this.finishLocal(ctx, endpoint, started, late ? 408 : 200);
      return late ? Promise.reject(this.deadlineError(endpoint)) : Promise.resolve(result);
    }
    const call = new LocalCall(this, endpoint, ctx, started);
    const answer = new Promise<unknown>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    this.localDeadlines.add(call);
    result.then(call.onValue, call.onError);
    return answer;
  }

  /** @internal LocalCall's way back in. */
  settleLocal(call: LocalCall, ok: boolean, outcome: unknown): void {
    // As over the network: an answer produced at or past the deadline is a 408, whatever the handler returned.
    const late = Date.now() >= call.deadline;
    const error = late ? this.deadlineError(call.endpoint) : ok ? undefined : this.toRpcError(outcome, call.endpoint);
    this.finishLocal(call.ctx, call.endpoint, call.started, error ? error.code : 200);
    if (!this.localDeadlines.finish(call)) return;
    if (error) call.reject(error);
    else call.resolve(outcome);
  }

  /** @internal */
  expireLocal(call: LocalCall): void {
    const err = this.deadlineError(call.endpoint);
    call.ctx.cancel(err);
    call.reject(err);
  }

  /** Refuse new requests (503, retryable) and wait until in-flight ones finish or `timeoutMs` passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.isDraining = true;
    if (this.active === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([idle, expired]);
    clearTimeout(timer);
    if (!drained) this.logger.warn({ inFlight: this.active }, 'drain timeout passed with requests still in flight');
    return drained;
  }

  private done(): void {
    this.active--;
    if (this.active === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.onAnswered?.();
  }

  private replyFrame(msg: Message, value: unknown, endpoint: CompiledEndpoint): Message {
    try {
      return responseTo(msg, this.codecs.get(msg.codec)!.encode(value, msg.service, msg.endpoint, 'response'), false);
    } catch (err) {
      const id = `${endpoint.info.service}.${endpoint.info.endpoint}`;
      return this.errorFrame(msg, errors.internal(id, `cannot encode the response: ${(err as Error).message}`));
    }
  }

  /** The health answer, in the caller's codec when it describes itself (JSON otherwise, as for errors). */
  private healthFrame(msg: Message): Message {
    const own = this.codecs.get(msg.codec);
    const codec = own && !own.typed ? own : this.codecs.get(CODEC_IDS.json)!;
    return responseTo(msg, codec.encode(this.health(msg.service)), false, codec.id);
  }

  private finishLocal(ctx: RequestContext, endpoint: CompiledEndpoint, started: number, code: number): void {
    ctx.finish();
    this.done();
    endpoint.meter?.stop(started, code);
  }

  private deadlineError(endpoint: CompiledEndpoint): RpcError {
    return errors.timeout(`${endpoint.info.service}.${endpoint.info.endpoint}`, 'deadline exceeded');
  }


  private errorFrame(msg: Message, err: RpcError): Message {
    // Error bodies use the request's codec when it describes itself, JSON otherwise, so any caller can read them.
    const own = this.codecs.get(msg.codec);
    const codec = own && !own.typed ? own : this.codecs.get(CODEC_IDS.json)!;
    return responseTo(msg, codec.encode(err.toJSON()), true, codec.id);
  }

  private toRpcError(err: unknown, endpoint: CompiledEndpoint): RpcError {
    const id = `${endpoint.info.service}.${endpoint.info.endpoint}`;
    // A handler's errors are never retryable by our callers, even one it got from a draining server downstream.
    if (err instanceof RpcError) return err.id === SERVER_ERROR_ID ? new RpcError(id, err.code, err.detail, err.issues) : err;
    const e = err instanceof Error ? err : new Error(String(err));
    this.logger.error({ err: e, endpoint: id }, 'handler failed');
    return errors.internal(id, this.dev && e.stack ? e.stack : e.message);
  }
}

/** One in-process call waiting for its handler: the deadline entry and the settle callbacks in one object. */
class LocalCall implements Expiring {
  readonly deadline: number;
  done = false;
  resolve!: (value: unknown) => void;
  reject!: (err: unknown) => void;
  readonly onValue = (value: unknown): void => this.server.settleLocal(this, true, value);
  readonly onError = (err: unknown): void => this.server.settleLocal(this, false, err);

  constructor(
    private readonly server: Server,
    readonly endpoint: CompiledEndpoint,
    readonly ctx: RequestContext,
    readonly started: number,
  ) {
    this.deadline = ctx.deadline;
  }

  expire(): void {
    this.server.expireLocal(this);
  }
}
