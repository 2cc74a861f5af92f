import type { Logger } from '../../lib/observe/logger';
import { GrpcTransport, type GrpcTransportOptions } from './transport';

/**
 * gRPC for Phobos, two things in one plugin:
 * - the face, `serveGrpc(service, { proto })`: a Phobos service served as real gRPC from its .proto, so stock gRPC
 *   clients call it (face.ts);
 * - the transport, `--transport=grpc`: Phobos calls between Phobos processes carried over HTTP/2 by grpc-js
 *   (transport.ts), options from `createService({ plugins: { grpc: {...} } })`.
 */
export { serveGrpc, type GrpcFace, type GrpcFaceOptions, type GrpcRoute } from './face';
export { GrpcTransport, type GrpcTransportOptions } from './transport';
export { grpcStatusOf, rpcErrorOf } from './status';

/** What the catalog passes (lib/plugins.ts PluginContext), typed structurally: plugins never import the catalog. */
interface Context {
  logger?: Logger;
  options?: Record<string, unknown>;
  config?: { clientRequestTimeout?: number };
}

export function transportPlugin(ctx: Context): GrpcTransport {
  return new GrpcTransport({ logger: ctx.logger, ...(ctx.options as GrpcTransportOptions | undefined) });
}
