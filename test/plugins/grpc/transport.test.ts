import { RpcError } from '../../../lib';
import { Greeter } from '../../../examples/greeter/greeter';
import { GrpcGreeter } from '../../../examples/grpc/greeter';
import { GREETER_PROTO } from '../../../examples/grpc/proto';
import { GrpcTransport } from '../../../plugins/grpc';
import { newNamespace, stopAll, testService } from '../../helpers/services';

/** `--transport=grpc` between two real services: the greeter, protobuf on top of it, and what it does not carry. */

afterEach(stopAll);

const GRPC = ['--transport=grpc'];

test('--transport=grpc picks the grpc plugin from the catalog', () => {
  const service = testService({ argv: GRPC });
  expect(service.transport).toBeInstanceOf(GrpcTransport);
  expect(service.transport.name).toBe('grpc');
});

test('the greeter over --transport=grpc: 50 concurrent replies, a validation error; the node says grpc', async () => {
  const namespace = newNamespace();
  const server = testService({ name: 'greeter', namespace, argv: GRPC }).handle(new Greeter());
  await server.start();
  expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
  const record = (await server.registry.getService('greeter'))[0];
  expect(record.nodes[0].metadata.transport).toBe('grpc');

  const client = testService({ name: 'caller', namespace, argv: GRPC }).client;
  const greeter = client.service<Greeter>('greeter');
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => greeter.hello({ name: `n${i}` })));
  expect(replies.map((r) => r.message)).toEqual(Array.from({ length: 50 }, (_, i) => `Hello, n${i}!`));
  expect(await greeter.add({ a: 2, b: 3 })).toEqual({ sum: 5 });
  const err = (await greeter.hello({ name: '' }).catch((e) => e)) as RpcError;
  expect(err).toBeInstanceOf(RpcError);
  expect(err.code).toBe(400);
  expect(err.issues?.[0].path).toBe('name');
});

test('protobuf over --transport=grpc, metadata included', async () => {
  const namespace = newNamespace();
  const protobuf = { protos: [GREETER_PROTO], services: { 'grpc-greeter': 'helloworld.Greeter' } };
  const server = testService({ name: 'grpc-greeter', namespace, argv: GRPC, codec: 'protobuf', plugins: { protobuf } }).handle(new GrpcGreeter());
  await server.start();
  const client = testService({ name: 'caller', namespace, argv: GRPC, codec: 'protobuf', plugins: { protobuf } }).client;
  const reply = await client.call('grpc-greeter', 'sayHello', { name: 'Ada' }, { metadata: { 'x-request-id': 'r1' } });
  expect(reply).toEqual({ message: 'Hello, Ada!', pid: process.pid, requestId: 'r1' });
});

test('streams are not carried: a stream endpoint over grpc answers 500 saying so', async () => {
  const namespace = newNamespace();
  await testService({ name: 'greeter', namespace, argv: GRPC }).handle(new Greeter()).start();
  const client = testService({ name: 'caller', namespace, argv: GRPC }).client;
  const err = (await client.call('greeter', 'countdown', { from: 3 }).catch((e) => e)) as RpcError;
  expect([err.code, err.detail]).toEqual([500, 'this transport cannot carry streams']);
});

test('once the server stops, calls fail with 503 at once instead of waiting', async () => {
  const namespace = newNamespace();
  const server = testService({ name: 'greeter', namespace, argv: GRPC }).handle(new Greeter());
  await server.start();
  const client = testService({ name: 'caller', namespace, argv: GRPC, clientRequestTimeout: 10_000 }).client;
  expect((await client.call<{ message: string }>('greeter', 'hello', { name: 'a' })).message).toBe('Hello, a!');
  await server.stop();
  const started = Date.now();
  const err = (await client.call('greeter', 'hello', { name: 'b' }).catch((e) => e)) as RpcError;
  expect(err.code).toBe(503);
  expect(Date.now() - started).toBeLessThan(3000);
});
