/**
 * Phobos public API. Importing it loads reflect-metadata once, so decorators work wherever Phobos is used.
 */
import 'reflect-metadata';

export { Service, Method, Subscribe, describe } from './decorators';
export type { ServiceDescriptor, MethodDescriptor, SubscriptionDescriptor, MethodOptions, SubscribeOptions, StreamKind } from './decorators';
export { createService, PhobosService } from './service';
export type { ServiceOptions, ServiceState } from './service';
export { createFunction, PhobosFunction } from './function';
export type { Context } from './context';
export { currentContext } from './context';
export { RpcError, errors } from './errors';
export type { ErrorRecord, ValidationIssue } from './errors';
export { Client } from './client/client';
export type { CallOptions, ClientOf, ClientMethod, ClientStream, ClientReply, PublishOptions, FailMode, Attempt, AttemptFn, CallWrapper } from './client/types';
export type { BulkheadOptions } from './server/bulkhead';
export type { BreakerOptions } from './selector/breaker';
export type { HandlerWrapper, HandlerFn, EndpointInfo } from './server/endpoint';
export { resolveConfig, ConfigError, FLAGS, DEFAULTS } from './flags';
export type { Config } from './flags';
export { registerPlugin, availablePlugins } from './plugins';
export type { PluginDefinition, PluginContext, PluginKind, PluginFactory } from './plugins';
export type { Codec, MessageRole } from './codec';
export { CodecTable, JsonCodec, MsgpackCodec, CODEC_IDS } from './codec';
export type { Registry, ServiceRecord, NodeRecord, EndpointRecord, WatchEvent, Watcher } from './registry/registry';
export { MemoryRegistry } from './registry/memory';
export { RegistryCache } from './registry/cache';
export type { Transport, Message, Listener, ClientSocket } from './transport/transport';
export { STREAM_WINDOW } from './transport/stream-channel';
export type { StreamChannel } from './transport/stream-channel';
export type { Broker, Event, Subscription } from './broker/broker';
export { MemoryBroker } from './broker/memory';
export type { Selector, SelectedNode, SelectOptions, MarkInfo, BreakerEvent, BreakerState, BreakerSnapshot, BreakerListener } from './selector/selector';
export { DefaultSelector } from './selector/default';
export { createLogger } from './observe/logger';
export type { Logger, LoggerOptions, LogFormat } from './observe/logger';
// Types only: prom-client is loaded when a service turns metrics on, never by importing Phobos.
export type { MetricsOptions } from './observe/metrics';
export type { CallObserver, CallSeries } from './client/client';
