import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where greeter.proto is: next to this file when run from source (ts-jest), or in the repository's examples/grpc when
 * run compiled from dist/examples/grpc (tsc does not copy .proto files).
 */
export const GREETER_PROTO =
  [join(__dirname, 'greeter.proto'), join(__dirname, '..', '..', '..', 'examples', 'grpc', 'greeter.proto')].find((p) => existsSync(p)) ??
  join(__dirname, 'greeter.proto');

/** Where the example server listens and the client calls: GRPC_ADDRESS, else gRPC's customary port on loopback. */
export const GRPC_ADDRESS = process.env.GRPC_ADDRESS ?? '127.0.0.1:50051';
