import * as grpc from '@grpc/grpc-js';
import { MsgpackCodec } from '../../../lib/codec';
import { RpcError } from '../../../lib/errors';
import { encodeFrame } from '../../../lib/transport/tcp/frame';
import { FrameReader } from '../../../lib/transport/tcp/reader';
import { type Listener, type Message, MessageKind, type Reply, type RequestHandler, responseTo } from '../../../lib/transport/transport';
import { GrpcTransport } from '../../../plugins/grpc';
import { CALL_PATH, FRAMES_METHOD } from '../../../plugins/grpc/wire';
import { eventually } from '../../helpers/process';

/**
 * The grpc transport's own wire (docs/protocol.md §15): frames multiplexed on one bidi call per connection. What the
 * conformance suite does not reach: the in-flight cap, refusals that must cost one request and not the connection,
 * the listener's drain, a peer that is not a Phobos listener, and the wire spoken by a plain grpc-js client.
 */

const transports: GrpcTransport[] = [];
const listeners: Listener[] = [];
const clients: grpc.Client[] = [];
const servers: grpc.Server[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.forceShutdown();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

function transport(): GrpcTransport {
  const t = new GrpcTransport();
  transports.push(t);
  return t;
}

async function serve(handler: RequestHandler, options: { maxInFlight?: number; maxFrameSize?: number } = {}): Promise<Listener> {
  const listener = await transport().listen('127.0.0.1:0', handler, options);
  listeners.push(listener);
  return listener;
}

function request(body: string | Buffer, id = 0): Message {
  return { kind: MessageKind.request, id, codec: 2, service: 'svc', endpoint: 'echo', timeout: 0, metadata: undefined, error: false, body: Buffer.from(body) };
}

const echo = (req: Message, reply: Reply) => reply(responseTo(req, Buffer.from(Buffer.from(req.body).toString().toUpperCase()), false));
const text = (m: Message) => Buffer.from(m.body).toString();
const errorOf = (m: Message) => new MsgpackCodec().decode(m.body) as { code: number; detail: string };

test('past maxInFlight the server stops reading: never more than 2 handlers at once, and all 6 are answered', async () => {
  let active = 0;
  let most = 0;
  const listener = await serve(
    (req, reply) => {
      most = Math.max(most, ++active);
      setTimeout(() => {
        active--;
        echo(req, reply);
      }, 20);
    },
    { maxInFlight: 2 },
  );
  const socket = await transport().dial(listener.address);
  const replies = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((b) => socket.request(request(b), { timeout: 5000 })));
  expect(replies.map(text)).toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
  expect(most).toBe(2);
});

test('a request over maxFrameSize is refused with 413 by the sender; the connection and its other calls go on', async () => {
  const listener = await serve((req, reply) => setTimeout(() => echo(req, reply), 30));
  const socket = await transport().dial(listener.address, { maxFrameSize: 64 * 1024 });
  const slow = socket.request(request('still here'), { timeout: 5000 });
  const err = (await socket.request(request(Buffer.alloc(100 * 1024)), { timeout: 5000 }).catch((e) => e)) as RpcError;
  expect(err).toBeInstanceOf(RpcError);
  expect(err.code).toBe(413);
  expect(text(await slow)).toBe('STILL HERE');
  expect(socket.closed).toBe(false);
});

test('a reply over the server maxFrameSize becomes a 413 error reply for that caller only', async () => {
  const listener = await serve((req, reply) => reply(responseTo(req, text(req) === 'big' ? Buffer.alloc(8 * 1024) : Buffer.from('small'), false)), { maxFrameSize: 4096 });
  const socket = await transport().dial(listener.address);
  const [big, small] = await Promise.all([socket.request(request('big'), { timeout: 5000 }), socket.request(request('x'), { timeout: 5000 })]);
  expect(big.error).toBe(true);
  expect(errorOf(big).code).toBe(413);
  expect(text(small)).toBe('small');
});

test('at the deadline the caller gets 408 and the server hears the cancel', async () => {
  let cancelled = 0;
  // Like the Phobos server, the handler answers once cancelled: nothing stays in flight to hold up the listener's close.
  const listener = await serve((req, reply, peer) =>
    peer.onCancel(req.id, () => {
      cancelled++;
      reply(responseTo(req, Buffer.from('cancelled'), true));
    }),
  );
  const socket = await transport().dial(listener.address);
  const started = Date.now();
  const err = (await socket.request(request('never'), { timeout: 100 }).catch((e) => e)) as RpcError;
  expect(err.code).toBe(408);
  expect(Date.now() - started).toBeLessThan(1000);
  await eventually(() => cancelled === 1, 2000);
  expect(socket.closed).toBe(false);
});

test('listener close lets calls in flight finish, refuses new ones with 503, then closes the socket', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let arrived = 0;
  const listener = await serve((req, reply) => {
    arrived++;
    void released.then(() => echo(req, reply));
  });
  listeners.splice(0);
  const socket = await transport().dial(listener.address);
  const inFlight = socket.request(request('first'), { timeout: 5000 });
  await eventually(() => arrived === 1);
  const closing = listener.close();
  // The listener answers what arrives while it drains with an error reply; the connection is still up for the first call.
  const refused = await eventually(async () => {
    const r = await socket.request(request('late'), { timeout: 5000 });
    return r.error ? r : undefined;
  }) as Message;
  expect(errorOf(refused).code).toBe(503);
  release();
  expect(text(await inFlight)).toBe('FIRST');
  await closing;
  await eventually(() => socket.closed);
  expect(((await socket.request(request('after'), { timeout: 1000 }).catch((e) => e)) as RpcError).code).toBe(503);
});

test('a gRPC server that is not a Phobos listener: 502 and the socket closes', async () => {
  const server = new grpc.Server();
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const socket = await transport().dial(`127.0.0.1:${port}`);
  const err = (await socket.request(request('hi'), { timeout: 5000 }).catch((e) => e)) as RpcError;
  expect(err.code).toBe(502);
  expect(err.detail).toContain('not a Phobos grpc listener');
  expect(socket.closed).toBe(true);
});

describe('the wire from a plain grpc-js client', () => {
  function frame(m: Message, id: number): Buffer {
    const chunks: Uint8Array[] = [];
    encodeFrame(m, id, { maxFrameSize: 1 << 20, compressThreshold: Infinity }, chunks);
    return Buffer.concat(chunks);
  }

  async function rawCall(address: string) {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    clients.push(client);
    const call = client.makeBidiStreamRequest(CALL_PATH, FRAMES_METHOD.requestSerialize, FRAMES_METHOD.responseDeserialize);
    const reader = new FrameReader(1 << 20);
    const replies: Message[] = [];
    call.on('data', (b: Buffer) => {
      reader.push(b);
      for (let f = reader.next(); f; f = reader.next()) replies.push(f);
    });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    return { call, replies, status };
  }

  test('frames may span messages and share one; replies come back by request id', async () => {
    const listener = await serve(echo);
    const { call, replies } = await rawCall(listener.address);
    const one = frame(request('split'), 7);
    call.write(one.subarray(0, 10));
    call.write(one.subarray(10));
    call.write(Buffer.concat([frame(request('two'), 8), frame(request('three'), 9)]));
    await eventually(() => replies.length === 3);
    const byId = Object.fromEntries(replies.map((r) => [r.id, [r.kind, text(r)]]));
    expect(byId).toEqual({ 7: [MessageKind.response, 'SPLIT'], 8: [MessageKind.response, 'TWO'], 9: [MessageKind.response, 'THREE'] });
  });

  test('a broken frame ends that call with INVALID_ARGUMENT; a Phobos socket on the same listener is untouched', async () => {
    const listener = await serve(echo);
    const socket = await transport().dial(listener.address);
    const { call, status } = await rawCall(listener.address);
    call.write(Buffer.from('GET / HTTP/1.1\r\n\r\n, not a frame'));
    const s = await status;
    expect(s.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s.details).toContain('bad magic');
    expect(text(await socket.request(request('fine'), { timeout: 5000 }))).toBe('FINE');
  });
});
