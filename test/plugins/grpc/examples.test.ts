import * as grpc from '@grpc/grpc-js';
import { Child, killAll } from '../../helpers/process';
import { labClient } from './lab';

/**
 * The gRPC example as real processes: dist/examples/grpc/server.js (a Phobos service with the face) and
 * dist/examples/grpc/client.js (a stock grpc-js client built from greeter.proto), on a free port.
 */

afterEach(killAll);

test('the example server answers the example client: reply, INVALID_ARGUMENT, a stream, UNIMPLEMENTED; SIGTERM exits 0', async () => {
  const server = new Child('examples/grpc/server.js', ['--registry=memory', '--broker=memory'], { GRPC_ADDRESS: '127.0.0.1:0' });
  const [, address] = await server.waitFor(/gRPC greeter listening on (\S+)/, 15_000);
  const client = new Child('examples/grpc/client.js', [], { GRPC_ADDRESS: address, GREETER_NAME: 'Ada' });
  const { code } = await client.exit(15_000);
  expect(client.errLines.join('\n')).toBe('');
  expect(code).toBe(0);
  expect(client.lines).toEqual([
    `reply: Hello, Ada! (from pid ${server.proc.pid}, request grpc-example-1)`,
    'validation: INVALID_ARGUMENT invalid request: name: name must be longer than or equal to 1 characters',
    'countdown: 3 2 1 0',
    'sayGoodbye: UNIMPLEMENTED',
  ]);
  server.kill('SIGTERM');
  expect((await server.exit()).code).toBe(0);
}, 40_000);

test('a gRPC client of another .proto gets UNIMPLEMENTED from the example server, which keeps serving', async () => {
  const server = new Child('examples/grpc/server.js', ['--registry=memory', '--broker=memory'], { GRPC_ADDRESS: '127.0.0.1:0' });
  const [, address] = await server.waitFor(/gRPC greeter listening on (\S+)/, 15_000);
  const lab = labClient(address);
  const err = await new Promise<grpc.ServiceError>((resolve) => lab.echo({ text: 'x' }, (e: grpc.ServiceError) => resolve(e)));
  expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  lab.close();
  const client = new Child('examples/grpc/client.js', [], { GRPC_ADDRESS: address });
  expect((await client.exit(15_000)).code).toBe(0);
}, 40_000);
