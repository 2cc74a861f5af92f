import * as grpc from '@grpc/grpc-js';
import { Root } from 'protobufjs';
import { serveGrpc, type GrpcFace } from '../../../plugins/grpc';
import { eventually } from '../../helpers/process';
import { stopAll, testService } from '../../helpers/services';
import { Lab, LAB_PROTO, labClient, unary } from './lab';

/**
 * The gRPC face called by a stock @grpc/grpc-js client built only from lab.proto (proto-loader): replies, status
 * codes, validation, deadlines, cancel, metadata, unknown methods and server streaming, all over real HTTP/2.
 */

const Status = grpc.status;

describe('gRPC face', () => {
  let lab: Lab;
  let face: GrpcFace;
  let client: ReturnType<typeof labClient>;

  beforeAll(async () => {
    lab = new Lab();
    const service = testService({ name: 'lab' }).handle(lab);
    await service.start();
    face = await serveGrpc(service, { proto: LAB_PROTO, address: '127.0.0.1:0' });
    client = labClient(face.address);
  });

  afterAll(async () => {
    client.close();
    await stopAll();
  });

  test('serves each rpc that has a local endpoint, and says which', () => {
    expect(face.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(face.routes.map((r) => `${r.path} ${r.service}.${r.endpoint} ${r.via}`)).toEqual([
      '/facetest.Lab/Echo lab.echo local',
      '/facetest.Lab/Fail lab.fail local',
      '/facetest.Lab/Hold lab.hold local',
      '/facetest.Lab/Ticks lab.ticks local',
    ]);
  });

  test('a unary call gets the handler reply; fields not in the .proto are dropped, int64 is exact', async () => {
    const { reply, err } = await unary(client, 'echo', { text: 'ab', times: 3 });
    expect(err).toBeUndefined();
    expect(reply).toEqual({ text: 'ababab', metadataJson: expect.any(String), big: '9007199254740993' });
  });

  test('gRPC metadata reaches the handler lowercased; binary entries and grpc-* are left out', async () => {
    const md = new grpc.Metadata();
    md.set('X-Trace', 'abc');
    md.set('authorization', 'Bearer t0k');
    md.set('blob-bin', Buffer.from([1, 2, 3]));
    const { reply } = await unary(client, 'echo', { text: 'm', times: 1 }, { metadata: md });
    const seen = JSON.parse(reply.metadataJson) as Record<string, string>;
    expect(seen['x-trace']).toBe('abc');
    expect(seen.authorization).toBe('Bearer t0k');
    expect(Object.keys(seen).filter((k) => k.endsWith('-bin') || k.startsWith('grpc-') || k === 'user-agent')).toEqual([]);
  });

  test.each([
    [401, Status.UNAUTHENTICATED],
    [403, Status.PERMISSION_DENIED],
    [404, Status.NOT_FOUND],
    [409, Status.ALREADY_EXISTS],
    [429, Status.RESOURCE_EXHAUSTED],
    [503, Status.UNAVAILABLE],
  ])('a handler error %i is gRPC status %i with its detail and the Phobos error in the trailers', async (code, status) => {
    const { err } = await unary(client, 'fail', { code });
    expect(err?.code).toBe(status);
    expect(err?.details).toBe(`failed with ${code} as asked`);
    expect(err?.metadata.get('phobos-error-code')).toEqual([String(code)]);
    expect(err?.metadata.get('phobos-error-id')).toEqual(['lab.fail']);
    const record = JSON.parse((err?.metadata.get('phobos-error-bin')[0] as Buffer).toString());
    expect(record).toMatchObject({ id: 'lab.fail', code, detail: `failed with ${code} as asked` });
  });

  test('a handler crash is INTERNAL to that caller, and the next call works', async () => {
    const { err } = await unary(client, 'fail', { code: 0 });
    expect(err?.code).toBe(Status.INTERNAL);
    expect(err?.details).toBe('the handler crashed');
    expect((await unary(client, 'echo', { text: 'ok', times: 1 })).reply?.text).toBe('ok');
  });

  test('a validation failure is INVALID_ARGUMENT naming the field; the issues ride in phobos-error-bin', async () => {
    const { err } = await unary(client, 'echo', { text: '', times: 1 });
    expect(err?.code).toBe(Status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/text: text must not be empty/);
    const record = JSON.parse((err?.metadata.get('phobos-error-bin')[0] as Buffer).toString());
    expect(record.issues).toEqual([{ path: 'text', message: 'text must not be empty' }]);
  });

  test('the gRPC deadline is the call deadline: DEADLINE_EXCEEDED on time, and the handler signal aborts', async () => {
    const before = lab.holds.length;
    const started = Date.now();
    const { err } = await unary(client, 'hold', { text: 'x' }, { deadline: Date.now() + 200 });
    const took = Date.now() - started;
    expect(err?.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(2000);
    await eventually(() => lab.holds.length === before + 1, 2000);
    expect(lab.holds[before].name).toBe('TimeoutError');
  });

  test("the client's cancel aborts the handler's signal", async () => {
    const before = lab.holds.length;
    const arrived = new Promise<void>((resolve) => (lab.held = resolve));
    let call: grpc.ClientUnaryCall | undefined;
    const pending = unary(client, 'hold', { text: 'x' }, { deadline: Date.now() + 10_000, call: (c) => (call = c) });
    await arrived;
    call!.cancel();
    expect((await pending).err?.code).toBe(Status.CANCELLED);
    await eventually(() => lab.holds.length === before + 1, 2000);
    expect(lab.holds[before].message).toMatch(/cancelled/);
    lab.held = undefined;
  });

  test('an rpc the service does not implement is UNIMPLEMENTED', async () => {
    const { err } = await unary(client, 'missing', { text: 'x' });
    expect(err?.code).toBe(Status.UNIMPLEMENTED);
  });

  test('a server-streaming rpc delivers every message in order, then OK', async () => {
    const got: number[] = [];
    for await (const t of client.ticks({ count: 40 }, { deadline: Date.now() + 5000 }) as AsyncIterable<{ n: number }>) got.push(t.n);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test('a server stream is paced by its reader: a paused gRPC reader stops the generator, a cancel closes it', async () => {
    const before = lab.produced;
    const stream = client.ticks({ count: 1_000_000 }, { deadline: Date.now() + 10_000 }) as grpc.ClientReadableStream<{ n: number }>;
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.pause();
    // Wait until production stalls (HTTP/2 and stream buffers full), then check it stays stalled.
    let last = -1;
    await eventually(async () => {
      const now = lab.produced;
      const stalled = now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 100));
      return stalled;
    }, 5000);
    // What fills before the stall: the HTTP/2 window (64 KiB of 8-byte messages, about 8K) and the stream's buffer.
    expect(lab.produced - before).toBeLessThan(20_000);
    const closed = lab.closedStreams;
    stream.on('error', () => undefined);
    stream.cancel();
    await eventually(() => lab.closedStreams === closed + 1, 2000);
  });

  test('a stream that fails midway ends with the mapped status after the messages before it', async () => {
    const got: number[] = [];
    let failure: grpc.ServiceError | undefined;
    try {
      for await (const t of client.ticks({ count: 10, failAfter: 3 }, { deadline: Date.now() + 5000 }) as AsyncIterable<{ n: number }>) got.push(t.n);
    } catch (err) {
      failure = err as grpc.ServiceError;
    }
    expect(got).toEqual([1, 2, 3]);
    expect(failure?.code).toBe(Status.INVALID_ARGUMENT);
    expect(failure?.details).toBe('no more ticks');
  });
});

describe('gRPC face: lifecycle, forwarding and startup errors', () => {
  afterEach(stopAll);

  test('the face closes when its service stops: later calls are UNAVAILABLE', async () => {
    const service = testService({ name: 'lab' }).handle(new Lab());
    await service.start();
    const face = await serveGrpc(service, { proto: LAB_PROTO, address: '127.0.0.1:0' });
    const client = labClient(face.address);
    expect((await unary(client, 'echo', { text: 'up', times: 1 })).reply?.text).toBe('up');
    await service.stop();
    const { err } = await unary(client, 'echo', { text: 'down', times: 1 }, { deadline: Date.now() + 2000 });
    expect(err?.code).toBe(Status.UNAVAILABLE);
    client.close();
  });

  test('rpcs of a service served elsewhere are forwarded through the client (a gRPC gateway)', async () => {
    const backend = testService({ name: 'lab', namespace: 'grpc-forward' }).handle(new Lab());
    await backend.start();
    const gateway = testService({ name: 'gateway', namespace: 'grpc-forward' });
    await gateway.start();
    const face = await serveGrpc(gateway, { proto: LAB_PROTO, address: '127.0.0.1:0' });
    expect(face.routes.every((r) => r.via === 'forward')).toBe(true);
    const client = labClient(face.address);
    const md = new grpc.Metadata();
    md.set('x-trace', 'fwd');
    const { reply } = await unary(client, 'echo', { text: 'hop', times: 2 }, { metadata: md });
    expect(reply?.text).toBe('hophop');
    expect(JSON.parse(reply.metadataJson)['x-trace']).toBe('fwd');
    expect((await unary(client, 'fail', { code: 409 })).err?.code).toBe(Status.ALREADY_EXISTS);
    expect((await unary(client, 'echo', { text: '', times: 1 })).err?.code).toBe(Status.INVALID_ARGUMENT);
    // The backend has no "missing" endpoint: its 404 comes back as UNIMPLEMENTED.
    expect((await unary(client, 'missing', { text: 'x' })).err?.code).toBe(Status.UNIMPLEMENTED);
    const ticks: number[] = [];
    for await (const t of client.ticks({ count: 5 }) as AsyncIterable<{ n: number }>) ticks.push(t.n);
    expect(ticks).toEqual([1, 2, 3, 4, 5]);
    client.close();
  });

  test('an rpc whose streaming shape differs from its endpoint is a startup error naming both', async () => {
    const service = testService({ name: 'lab' }).handle(new Lab());
    // Lab.echo is unary; serve it as facetest.Lab under a proto whose Echo streams its replies.
    const root = Root.fromJSON({
      nested: {
        facetest: {
          nested: {
            Lab: { methods: { Echo: { requestType: 'E', responseType: 'E', responseStream: true } } },
            E: { fields: { text: { type: 'string', id: 1 } } },
          },
        },
      },
    });
    await expect(serveGrpc(service, { proto: root, address: '127.0.0.1:0' })).rejects.toThrow('/facetest.Lab/Echo streams its responses but lab.echo is unary');
  });
});
