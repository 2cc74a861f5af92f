import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { JsonCodec } from '../../lib/codec';
import { TcpTransport } from '../../lib/transport/tcp';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { type Message, MessageKind, type RequestHandler, responseTo } from '../../lib/transport/transport';
import { type Frame, RawClient, captureLogger, frameBytes, frameSink, rejection, request, waitFor, tcpFixture } from './helpers';

const echo: RequestHandler = (req, reply) => reply(responseTo(req, req.body, false));

const fx = tcpFixture();
const { rawServer, serve, servers } = fx;

describe('tcp transport: data path', () => {
  it('binds host:port and round-trips service, endpoint, metadata and body exactly', async () => {
    let seen: Message | undefined;
    const c = await serve((req, reply) => {
      seen = req;
      reply({ ...responseTo(req, Buffer.from('réponse ✓'), true), metadata: { 'résumé': '✓✓' } });
    });
    expect(fx.listener!.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const body = Buffer.from([0, 1, 2, 250, 251, 252]);
    const metadata = { 'x-ключ': 'значение 🚀', trace: 'abc' };
    const res = await c.request(
      request({ service: 'grüße-服务', endpoint: '😀.hello', metadata, body, codec: 1 }),
      { timeout: 2_000 },
    );
    expect(seen).toMatchObject({ kind: 0, service: 'grüße-服务', endpoint: '😀.hello', codec: 1, metadata });
    expect(seen!.timeout).toBe(2_000);
    expect(Buffer.from(seen!.body)).toEqual(body);
    expect(res).toMatchObject({ kind: 1, id: seen!.id, codec: 1, error: true, metadata: { 'résumé': '✓✓' } });
    expect(Buffer.from(res.body).toString()).toBe('réponse ✓');
    expect(c.inFlight).toBe(0);
  });

  it('matches 1000 concurrent requests on one connection answered in shuffled order', async () => {
    const held: [Message, (m: Message) => void][] = [];
    const c = await serve((req, reply) => {
      held.push([req, reply]);
      if (held.length === 1000) {
        for (let i = held.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [held[i], held[j]] = [held[j], held[i]];
        }
        for (const [r, rep] of held) rep(responseTo(r, Buffer.from(`re:${Buffer.from(r.body).toString()}`), false));
      }
    });
    const calls = Array.from({ length: 1000 }, (_, i) => c.request(request({ body: Buffer.from(String(i)) }), { timeout: 10_000 }));
    await waitFor(() => c.inFlight === 1000 || held.length > 0, 'requests to be pending');
    const replies = await Promise.all(calls);
    replies.forEach((r, i) => expect(Buffer.from(r.body).toString()).toBe(`re:${i}`));
    expect(fx.listener!.connectionStats()).toHaveLength(1);
  });

  it('coalesces frames written in one tick into one socket write, and each tick into its own', async () => {
    const chunks: Buffer[] = [];
    const address = await rawServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    const writes = jest.spyOn(require('node:net').Socket.prototype, 'write');
    fx.client = await new TcpTransport().dial(address);
    const port = Number(address.split(':')[1]);
    const ours = () => writes.mock.contexts.filter((s) => (s as Socket).remotePort === port).length;
    for (let i = 0; i < 100; i++) void fx.client.request(request(), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => ours() > 0, 'the batch to be written');
    expect(ours()).toBe(1);
    const reader = new FrameReader(1 << 20);
    const count = () => {
      let n = 0;
      for (const c of chunks.splice(0)) {
        reader.push(c);
        while (reader.next()) n++;
      }
      return n;
    };
    let got = 0;
    await waitFor(() => (got += count()) === 100, 'all 100 frames at the raw server');
    for (let i = 0; i < 3; i++) void fx.client.request(request(), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => ours() > 1, 'the second batch');
    expect(ours()).toBe(2);
  });

  it('gzips a request body above the threshold on the wire, and not one below it', async () => {
    const frames: Frame[] = [];
    const address = await frameSink(frames, servers);
    fx.client = await new TcpTransport({ compressLoopback: true }).dial(address);
    const big = Buffer.alloc(10_000, 'hello phobos ');
    void fx.client.request(request({ body: big }), { timeout: 5_000 }).catch(() => undefined);
    void fx.client.request(request({ body: Buffer.alloc(1_000, 'x') }), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => frames.length === 2, 'two frames at the raw server');
    expect(frames[0]!.gzip).toBe(true);
    expect(frames[0]!.body.length).toBeLessThan(1_000);
    expect(gunzipSync(frames[0]!.body)).toEqual(big);
    expect(frames[1]!.gzip).toBe(false);
    expect(frames[1]!.body.length).toBe(1_000);
  });

  it('does not gzip to a loopback peer unless compressLoopback is set', async () => {
    const frames: Frame[] = [];
    const address = await frameSink(frames, servers);
    fx.client = await new TcpTransport().dial(address);
    const big = Buffer.alloc(10_000, 'hello phobos ');
    void fx.client.request(request({ body: big }), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => frames.length === 1, 'one frame at the raw server');
    expect(frames[0]!.gzip).toBe(false);
    expect(Buffer.from(frames[0]!.body).equals(big)).toBe(true);
  });

  it('round-trips large compressible bodies both ways', async () => {
    const c = await serve(echo);
    const body = Buffer.alloc(3 << 20, 'phobos ');
    const res = await c.request(request({ body }), { timeout: 5_000 });
    expect(Buffer.from(res.body).equals(body)).toBe(true);
  });

  it('refuses a gzip bomb with 413 and never calls the handler', async () => {
    const { logger, warnings } = captureLogger();
    let called = 0;
    fx.listener = await new TcpTransport({ logger }).listen('127.0.0.1:0', (req, reply, peer) => {
      called++;
      echo(req, reply, peer);
    });
    // The sender allows 64 MiB; 8 MiB of zeros gzips to a few KiB, far under the server's 4 MiB frame limit.
    fx.client = await new TcpTransport({ maxFrameSize: 64 << 20, compressLoopback: true }).dial(fx.listener.address);
    const res = await fx.client.request(request({ codec: 1, body: Buffer.alloc(8 << 20) }), { timeout: 5_000 });
    expect(res.error).toBe(true);
    expect(new JsonCodec().decode(res.body)).toMatchObject({ code: 413, id: 'phobos.transport' });
    expect(called).toBe(0);
    expect(warnings().some((l) => /inflates past/.test(String(l.reason)))).toBe(true);
    // The connection survives a refused body.
    expect((await fx.client.request(request(), { timeout: 2_000 })).error).toBe(false);
  });

  it('fails a response that inflates past the client limit with 413', async () => {
    fx.listener = await new TcpTransport({ maxFrameSize: 64 << 20, compressLoopback: true }).listen('127.0.0.1:0', (req, reply) =>
      reply(responseTo(req, Buffer.alloc(8 << 20), false)),
    );
    fx.client = await new TcpTransport({ maxFrameSize: 1 << 20 }).dial(fx.listener.address);
    expect((await rejection(fx.client.request(request(), { timeout: 5_000 }))).code).toBe(413);
    expect(fx.client.closed).toBe(false);
  });

  it('answers ping with pong, echoing the body', async () => {
    const c = await serve(echo);
    expect(await c.ping(2_000)).toBeGreaterThanOrEqual(0);
    expect(fx.listener!.connectionStats()[0].inFlight).toBe(0);
  });

  it('answers a raw ping frame with a pong carrying the same id and body', async () => {
    await serve(echo);
    const raw = await RawClient.connect(fx.listener!.address);
    raw.write(frameBytes(request({ kind: MessageKind.ping, service: '', endpoint: '', body: Buffer.from('abc') }), 77));
    await waitFor(() => raw.frames.length === 1, 'the pong');
    expect(raw.frames[0]).toMatchObject({ kind: MessageKind.pong, id: 77 });
    expect(Buffer.from(raw.frames[0].body).toString()).toBe('abc');
    raw.destroy();
  });
});
