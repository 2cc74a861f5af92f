import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GREETER_PROTO, GRPC_ADDRESS } from './proto';

// A stock gRPC client: built from greeter.proto alone with @grpc/grpc-js and @grpc/proto-loader, nothing of Phobos.
const definition = protoLoader.loadSync(GREETER_PROTO, { longs: String, enums: String, defaults: true });
const { helloworld } = grpc.loadPackageDefinition(definition) as any;
const greeter = new helloworld.Greeter(GRPC_ADDRESS, grpc.credentials.createInsecure());

function unary<T>(method: string, request: object, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) =>
    greeter[method](request, metadata, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply))),
  );
}

function statusName(code: number): string {
  return grpc.status[code] ?? String(code);
}

async function main(): Promise<void> {
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', 'grpc-example-1');
  const reply = await unary<{ message: string; pid: number; requestId: string }>('sayHello', { name: process.env.GREETER_NAME ?? 'World' }, metadata);
  console.log(`reply: ${reply.message} (from pid ${reply.pid}, request ${reply.requestId})`);

  // The Phobos handler validates its request; a failure is INVALID_ARGUMENT with the field named in the details.
  try {
    await unary('sayHello', { name: '' });
    console.log('validation: accepted?!');
  } catch (err) {
    const e = err as grpc.ServiceError;
    console.log(`validation: ${statusName(e.code)} ${e.details}`);
  }

  const counts: number[] = [];
  for await (const c of greeter.countdown({ from: 3 }, { deadline: Date.now() + 5000 }) as AsyncIterable<{ n: number }>) counts.push(c.n);
  console.log(`countdown: ${counts.join(' ')}`);

  try {
    await unary('sayGoodbye', { name: 'World' });
  } catch (err) {
    console.log(`sayGoodbye: ${statusName((err as grpc.ServiceError).code)}`);
  }
  greeter.close();
}

main().catch((err) => {
  console.error(`call failed: ${(err as grpc.ServiceError).code ?? ''} ${(err as Error).message}`);
  process.exit(1);
});
