import type { Context } from '../context';
import type { MethodDescriptor, StreamKind, SubscriptionDescriptor } from '../decorators';
import type { EndpointRecord } from '../registry/registry';
import { bulkhead, type BulkheadOptions } from './bulkhead';
import { compileValidator, effectiveSchema, toJsonSchema, type Validator } from './validation';

/**
 * Compiles one decorated method into the single function the server calls per request: validation, the handler and
 * every wrapper composed here, once. Nothing on the per-call path looks at decorators or options again.
 */

export type HandlerFn = (request: unknown, ctx: Context) => Promise<unknown> | unknown;

export interface EndpointInfo {
  service: string;
  version: string;
  endpoint: string;
  /** 'method' for RPC endpoints, 'subscriber' for event handlers. */
  type: 'method' | 'subscriber';
  /** Set for streaming methods. */
  stream?: StreamKind;
}

/**
 * Measures a unary method from the server's side (metrics). The server calls it in the reactions it runs anyway, so
 * measuring costs no promise per call, which a HandlerWrapper around an async handler cannot avoid.
 */
export interface EndpointMeter {
  /** A request is about to run; returns its start time for `stop`. */
  start(): number;
  /** The request that began at `started` was answered with `code` (200, or the error code the caller was told). */
  stop(started: number, code: number): void;
}

/** Wraps a handler once at registration (logging, metrics, auth...). Must return a HandlerFn. */
export type HandlerWrapper = (next: HandlerFn, info: EndpointInfo) => HandlerFn;

export interface CompiledEndpoint {
  info: EndpointInfo;
  invoke: HandlerFn;
  record: EndpointRecord;
  /** A streaming endpoint: served by lib/server/stream.ts. */
  stream?: StreamKind;
  /** Client and bidi streams: validates each inbound message (`invoke` gets the stream itself, unvalidated). */
  validate?: Validator;
  /** Unary methods, when metrics are on. */
  meter?: EndpointMeter;
}

type Invocable = Pick<MethodDescriptor, 'handler'> & { request?: MethodDescriptor['request']; reflectedType?: unknown };

/** How every endpoint of a service is compiled: the wrapper chain and the default bulkhead. */
export interface CompileOptions {
  wrappers: readonly HandlerWrapper[];
  /** A bulkhead for every method endpoint that does not declare its own (`false` in @Method turns it off). */
  bulkhead?: BulkheadOptions;
  /** Builds the meter of each unary method (metrics on). */
  meter?: (info: EndpointInfo) => EndpointMeter;
}

export function compileHandler(
  info: EndpointInfo,
  method: Invocable,
  instance: object,
  wrappers: readonly HandlerWrapper[],
  limits?: BulkheadOptions,
): { invoke: HandlerFn; schema: ReturnType<typeof effectiveSchema> } {
  const schema = effectiveSchema(method.request, method.reflectedType);
  const validate = compileValidator(`${info.service}.${info.endpoint}`, schema);
  const fn = method.handler;
  let invoke: HandlerFn = validate
    ? (req, ctx) => {
        const valid = validate(req);
        return valid instanceof Promise ? valid.then((v) => fn.call(instance, v, ctx)) : fn.call(instance, valid, ctx);
      }
    : (req, ctx) => fn.call(instance, req, ctx);
  // The bulkhead sits inside the wrappers, so metrics and logging wrappers see its 429s.
  if (limits) invoke = bulkhead(limits, `${info.service}.${info.endpoint}`, invoke);
  for (let i = wrappers.length - 1; i >= 0; i--) invoke = wrappers[i](invoke, info);
  return { invoke, schema };
}

export function compileEndpoint(
  service: string,
  version: string,
  method: MethodDescriptor,
  instance: object,
  options: CompileOptions,
): CompiledEndpoint {
  const info: EndpointInfo = { service, version, endpoint: method.name, type: 'method' };
  if (method.stream) info.stream = method.stream;
  const limits = method.bulkhead === false ? undefined : (method.bulkhead ?? options.bulkhead);
  // A request stream is validated message by message as the handler reads it, so the handler is compiled without.
  const streamsIn = method.stream === 'client' || method.stream === 'bidi';
  const { invoke, schema } = compileHandler(info, streamsIn ? { handler: method.handler } : method, instance, options.wrappers, limits);
  const record: EndpointRecord = { name: method.name, metadata: method.metadata };
  const request = toJsonSchema(streamsIn ? method.request : schema);
  const response = toJsonSchema(method.response);
  if (request) record.request = request;
  if (response) record.response = response;
  const compiled: CompiledEndpoint = { info, invoke, record };
  if (method.stream) compiled.stream = method.stream;
  else if (options.meter) compiled.meter = options.meter(info);
  if (streamsIn) compiled.validate = compileValidator(`${service}.${method.name}`, method.request);
  return compiled;
}

export function compileSubscriber(
  service: string,
  version: string,
  sub: SubscriptionDescriptor,
  instance: object,
  options: CompileOptions,
): CompiledEndpoint {
  const info: EndpointInfo = { service, version, endpoint: sub.topic, type: 'subscriber' };
  const { invoke } = compileHandler(info, { handler: sub.handler, request: sub.schema, reflectedType: sub.reflectedType }, instance, options.wrappers);
  return { info, invoke, record: { name: sub.topic, metadata: { subscriber: 'true', ...(sub.queue ? { queue: sub.queue } : {}) } } };
}
