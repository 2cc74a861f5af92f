import 'reflect-metadata';
import type { BulkheadOptions } from './server/bulkhead';
import type { RequestSchema } from './server/validation';

/**
 * @Service, @Method and @Subscribe only record metadata. `describe(handler)` turns a decorated instance into a plain
 * ServiceDescriptor once, at registration; nothing here runs per call.
 */

export interface ServiceOptions {
  /** Registry name; defaults to the name given to createService. */
  name?: string;
  version?: string;
  metadata?: Record<string, string>;
}

export interface MethodOptions {
  /** Endpoint name on the wire; defaults to the method name. */
  name?: string;
  /** Validates the request: a zod (or any Standard Schema) schema or a class-validator DTO class. */
  request?: RequestSchema;
  /** Describes the response in the registry (JSON Schema source), not validated. */
  response?: RequestSchema;
  metadata?: Record<string, string>;
  /** Caps concurrent requests to this endpoint with a bounded queue; overflow is 429. `false` opts out of the service default. */
  bulkhead?: BulkheadOptions | false;
  /**
   * A streaming endpoint (the registry record carries it as `metadata.stream`). The handler's shape follows:
   * 'server': `async *list(req, ctx)` yields replies; 'client': `async upload(reqs: AsyncIterable<Req>, ctx)` returns
   * one reply; 'bidi': `async *chat(reqs: AsyncIterable<Req>, ctx)` yields replies. `request` validates each message.
   */
  stream?: StreamKind;
}

export type StreamKind = 'server' | 'client' | 'bidi';
const STREAM_KINDS: readonly StreamKind[] = ['server', 'client', 'bidi'];

export interface SubscribeOptions {
  /** Subscribers sharing a queue split the events; without one every subscriber gets every event. */
  queue?: string;
  /** Validates each event like a method request; invalid events are logged and dropped. */
  schema?: RequestSchema;
  durable?: boolean;
}

export interface MethodDescriptor {
  name: string;
  /** The property on the handler instance. */
  key: string;
  handler: (req: any, ctx: any) => unknown;
  request?: RequestSchema;
  response?: RequestSchema;
  /** The first parameter's reflected type (design:paramtypes), used when no request schema is declared. */
  reflectedType?: unknown;
  metadata: Record<string, string>;
  bulkhead?: BulkheadOptions | false;
  stream?: StreamKind;
}

export interface SubscriptionDescriptor {
  topic: string;
  key: string;
  handler: (event: any, ctx: any) => unknown;
  queue?: string;
  schema?: RequestSchema;
  reflectedType?: unknown;
  durable: boolean;
}

export interface ServiceDescriptor {
  name: string | undefined;
  version: string | undefined;
  metadata: Record<string, string>;
  methods: MethodDescriptor[];
  subscriptions: SubscriptionDescriptor[];
}

const SERVICE_KEY = Symbol.for('phobos:service');
const METHODS_KEY = Symbol.for('phobos:methods');
const SUBSCRIPTIONS_KEY = Symbol.for('phobos:subscriptions');

interface MethodMeta {
  key: string;
  options: MethodOptions;
}
interface SubscriptionMeta {
  key: string;
  topic: string;
  options: SubscribeOptions;
}

export function Service(options: ServiceOptions = {}): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(SERVICE_KEY, options, target);
  };
}

export function Method(options: MethodOptions = {}): MethodDecorator {
  if (options.stream !== undefined && !STREAM_KINDS.includes(options.stream)) {
    throw new Error(`@Method stream must be one of ${STREAM_KINDS.join(', ')}, not "${String(options.stream)}"`);
  }
  return (target, key) => {
    const list: MethodMeta[] = [...(Reflect.getMetadata(METHODS_KEY, target) ?? [])];
    list.push({ key: String(key), options });
    Reflect.defineMetadata(METHODS_KEY, list, target);
  };
}

export function Subscribe(topic: string, options: SubscribeOptions = {}): MethodDecorator {
  if (!topic) throw new Error('@Subscribe needs a topic');
  return (target, key) => {
    const list: SubscriptionMeta[] = [...(Reflect.getMetadata(SUBSCRIPTIONS_KEY, target) ?? [])];
    list.push({ key: String(key), topic, options });
    Reflect.defineMetadata(SUBSCRIPTIONS_KEY, list, target);
  };
}

/** Reads the decorators of a handler instance into a plain descriptor; throws if it has none. */
export function describe(handler: object): ServiceDescriptor {
  const ctor = handler.constructor;
  const proto = Object.getPrototypeOf(handler);
  const serviceOptions: ServiceOptions | undefined = Reflect.getMetadata(SERVICE_KEY, ctor);
  const methodMetas: MethodMeta[] = Reflect.getMetadata(METHODS_KEY, proto) ?? [];
  const subMetas: SubscriptionMeta[] = Reflect.getMetadata(SUBSCRIPTIONS_KEY, proto) ?? [];
  if (!serviceOptions && methodMetas.length === 0 && subMetas.length === 0) {
    throw new Error(`${ctor.name} has no @Service, @Method or @Subscribe decorators`);
  }
  const fn = (key: string) => {
    const f = (handler as Record<string, unknown>)[key];
    if (typeof f !== 'function') throw new Error(`${ctor.name}.${key} is not a method`);
    return f as (req: unknown, ctx: unknown) => unknown;
  };
  const paramType = (key: string): unknown => (Reflect.getMetadata('design:paramtypes', proto, key) ?? [])[0];

  const methods = methodMetas.map<MethodDescriptor>((m) => ({
    name: m.options.name ?? m.key,
    key: m.key,
    handler: fn(m.key),
    request: m.options.request,
    response: m.options.response,
    reflectedType: paramType(m.key),
    metadata: m.options.stream ? { ...m.options.metadata, stream: m.options.stream } : (m.options.metadata ?? {}),
    bulkhead: m.options.bulkhead,
    stream: m.options.stream,
  }));
  const seen = new Set<string>();
  for (const m of methods) {
    if (seen.has(m.name)) throw new Error(`${ctor.name} declares endpoint "${m.name}" twice`);
    seen.add(m.name);
  }
  return {
    name: serviceOptions?.name,
    version: serviceOptions?.version,
    metadata: serviceOptions?.metadata ?? {},
    methods,
    subscriptions: subMetas.map<SubscriptionDescriptor>((s) => ({
      topic: s.topic,
      key: s.key,
      handler: fn(s.key),
      queue: s.options.queue,
      schema: s.options.schema,
      reflectedType: paramType(s.key),
      durable: s.options.durable ?? false,
    })),
  };
}
