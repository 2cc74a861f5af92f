import { createService } from '../../lib';
import { serveGrpc } from '../../plugins/grpc';
import { GrpcGreeter } from './greeter';
import { GREETER_PROTO, GRPC_ADDRESS } from './proto';

// A Phobos service that is also a real gRPC server for greeter.proto. Phobos clients reach it as usual (registry,
// tcp); gRPC clients built from the .proto call /helloworld.Greeter/SayHello on GRPC_ADDRESS (default 127.0.0.1:50051).
async function main(): Promise<void> {
  const service = createService({ name: 'grpc-greeter', version: '1.0.0' });
  service.handle(new GrpcGreeter());
  service.on('afterStart', async () => {
    const face = await serveGrpc(service, { proto: GREETER_PROTO, address: GRPC_ADDRESS, services: { 'grpc-greeter': 'helloworld.Greeter' } });
    console.log(`gRPC greeter listening on ${face.address}`);
    for (const r of face.routes) console.log(`  ${r.path} -> ${r.service}.${r.endpoint}`);
  });
  await service.run(); // until SIGINT/SIGTERM: the face closes first (beforeStop), then the service drains and stops
}

void main();
