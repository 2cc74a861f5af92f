import { Server as GrpcServer, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Root } from 'protobufjs';
import { CODEC_IDS } from '../../lib/codec/codec';
import type { PhobosService } from '../../lib/service';
import { ProtobufCodec, type ProtobufCodecOptions } from '../protobuf/codec';
import { loadRoot, phobosServices, rpcsOf, type RpcShape } from '../protobuf/schema';
import { type FaceContext, forwardedServerStream, forwardedUnary, localServerStream, localUnary, type Target } from './face-calls';

/**
 * The gRPC face: serves a Phobos service as real gRPC (`/package.Service/Method`) from its .proto, so a stock gRPC
 * client built only from that .proto can call it. Each rpc becomes the Phobos endpoint of the same name (naming rule
 * in plugins/protobuf/schema.ts); bytes pass through untouched and the service's protobuf codec decodes them.
 */

export interface GrpcFaceOptions extends Pick<ProtobufCodecOptions, 'includeDirs' | 'keepCase' | 'longs' | 'enums'> {
  /** The .proto file(s) (or a loaded protobufjs Root) whose services to serve. */
  proto: string | string[] | Root;
  /** host:port to bind (default 127.0.0.1:50051; port 0 picks a free one, read it back from `address`). */
  address?: string;
  /** Phobos service name -> proto service full name, for services not named by the default rule. */
  services?: Record<string, string>;
  /**
   * rpcs of services this process does not serve are forwarded through `service.client` (the face is then a gRPC
   * gateway). Default true; false leaves them unimplemented.
   */
  forward?: boolean;
  /** Deadline for gRPC calls that come without one, in ms (default: the service's --client_request_timeout). */
  defaultTimeout?: number;
  /** Largest message accepted or sent, in bytes (default 4 MiB); larger ones are refused with RESOURCE_EXHAUSTED. */
  maxMessageSize?: number;
  /** On close, calls still running after this many ms are cut off (default 5 s). */
  closeGrace?: number;
  /** TLS and friends; insecure (plaintext HTTP/2) by default. */
  credentials?: ServerCredentials;
}

export interface GrpcRoute {
  /** `/helloworld.Greeter/SayHello` */
  path: string;
  service: string;
  endpoint: string;
  /** Served by this process's server, or forwarded through its client. */
  via: 'local' | 'forward';
}

export interface GrpcFace {
  /** The address bound, e.g. `127.0.0.1:50051`. */
  readonly address: string;
  /** Every rpc served; rpcs not listed answer UNIMPLEMENTED. */
  readonly routes: readonly GrpcRoute[];
  /** Stops accepting calls, lets running ones finish (up to closeGrace), then closes. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the face. Call it after `service.handle(...)` (it looks the endpoints up); it closes itself when the service
 * stops (beforeStop). A rpc whose streaming shape differs from its endpoint's, or a client/bidi-streaming rpc, is a
 * startup error for local endpoints.
 */
export async function serveGrpc(service: PhobosService, options: GrpcFaceOptions): Promise<GrpcFace> {
  const root = loadRoot({ protos: options.proto, includeDirs: options.includeDirs, keepCase: options.keepCase });
  const codec = protobufCodecOf(service, root, options);
  let seq = 0;
  const face: FaceContext = {
    phobos: service,
    codec,
    defaultTimeout: options.defaultTimeout ?? service.config.clientRequestTimeout,
    nextId: () => (seq = (seq + 1) >>> 0),
  };
  const maxMessageSize = options.maxMessageSize ?? 4 * 1024 * 1024;
  const server = new GrpcServer({ 'grpc.max_receive_message_length': maxMessageSize, 'grpc.max_send_message_length': maxMessageSize });
  const routes: GrpcRoute[] = [];
  for (const [name, protoService] of phobosServices(root, options.services)) {
    const rpcs = [...rpcsOf(protoService).values()];
    const local = rpcs.map((rpc) => localEndpointName(service, name, rpc.method));
    // A service served here answers only what it has; one served elsewhere is forwarded whole.
    const servedHere = local.some((e) => e !== undefined);
    const definition: Record<string, ServiceDefinition[string]> = {};
    const handlers: UntypedServiceImplementation = {};
    rpcs.forEach((rpc, i) => {
      const endpoint = local[i];
      if (endpoint === undefined && (servedHere || options.forward === false)) return;
      const target: Target = { service: name, endpoint: endpoint ?? lowerFirst(rpc.method) };
      const handler = endpoint !== undefined ? localHandler(face, rpc, target) : forwardHandler(face, rpc, target);
      if (!handler) return;
      definition[rpc.method] = methodDefinition(rpc);
      handlers[rpc.method] = handler;
      routes.push({ path: rpc.path, ...target, via: endpoint !== undefined ? 'local' : 'forward' });
    });
    if (Object.keys(definition).length) server.addService(definition, handlers);
  }

  const requested = options.address ?? '127.0.0.1:50051';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(requested, options.credentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = requested.replace(/:\d+$/, `:${port}`);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= shutdown(server, options.closeGrace ?? 5000));
  service.on('beforeStop', close);
  service.logger.info({ address, routes: routes.length }, 'gRPC face listening');
  return { address, routes, close };
}

/** The service's protobuf codec, taught this .proto; one is created and added to the service's codecs if it has none. */
function protobufCodecOf(service: PhobosService, root: Root, options: GrpcFaceOptions): ProtobufCodec {
  const existing = service.codecs.get(CODEC_IDS.protobuf);
  if (existing instanceof ProtobufCodec) {
    existing.include(root, options.services);
    return existing;
  }
  if (existing) throw new Error(`codec id ${CODEC_IDS.protobuf} is taken by "${existing.name}", not the protobuf codec`);
  const codec = new ProtobufCodec({ protos: root, services: options.services, longs: options.longs, enums: options.enums });
  service.codecs.add(codec);
  return codec;
}

/** The Phobos endpoint an rpc names, if this process serves it: the same name, else the one equal ignoring case. */
function localEndpointName(service: PhobosService, name: string, method: string): string | undefined {
  const names = service.server.endpointNames(name);
  if (names.includes(method)) return method;
  const wanted = method.toLowerCase();
  return names.find((n) => n.toLowerCase() === wanted);
}

function localHandler(face: FaceContext, rpc: RpcShape, target: Target) {
  const ep = face.phobos.server.localEndpoint(target.service, target.endpoint)!;
  const id = `${target.service}.${target.endpoint}`;
  if (rpc.requestStream) throw new Error(`${rpc.path} streams its requests: the gRPC face serves unary and server-streaming rpcs only`);
  if (rpc.responseStream && ep.stream !== 'server') throw new Error(`${rpc.path} streams its responses but ${id} is ${ep.stream ?? 'unary'}`);
  if (!rpc.responseStream && ep.stream !== undefined) throw new Error(`${rpc.path} is unary but ${id} is a ${ep.stream} stream`);
  return rpc.responseStream ? localServerStream(face, target) : localUnary(face, target);
}

function forwardHandler(face: FaceContext, rpc: RpcShape, target: Target) {
  if (rpc.requestStream) {
    face.phobos.logger.warn({ path: rpc.path }, 'gRPC face: client and bidi streaming rpcs are not forwarded');
    return undefined;
  }
  return rpc.responseStream ? forwardedServerStream(face, target) : forwardedUnary(face, target);
}

const passThrough = (b: Buffer): Buffer => b;

/** A grpc-js method definition whose messages stay bytes: the Phobos server's codec does the protobuf work. */
function methodDefinition(rpc: RpcShape) {
  return {
    path: rpc.path,
    requestStream: rpc.requestStream,
    responseStream: rpc.responseStream,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
    originalName: lowerFirst(rpc.method),
  };
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function shutdown(server: GrpcServer, grace: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, grace);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
