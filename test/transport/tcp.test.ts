import { type AddressInfo, type Socket, createServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { JsonCodec } from '../../lib/codec';
import { RpcError } from '../../lib/errors';
import { TcpTransport } from '../../lib/transport/tcp';
import type { TcpClientSocket, TcpListener } from '../../lib/transport/tcp';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { type Message, MessageKind, type RequestHandler, responseTo } from '../../lib/transport/transport';
import { RawClient, captureLogger, frameBytes, request, waitFor } from './helpers';

const echo: RequestHandler = (req, reply) => reply(responseTo(req, req.body, false));

let listener: TcpListener | undefined;
let client: TcpClientSocket | undefined;
const rawServers: ReturnType<typeof createServer>[] = [];

afterEach(async () => {
  client?.close();
  client = undefined;
  await listener?.close();
  listener = undefined;
  for (const s of rawServers.splice(0)) await new Promise((r) => s.close(r));
  jest.restoreAllMocks();
});

async function serve(handler: RequestHandler, t = new TcpTransport()): Promise<TcpClientSocket> {
  listener = await t.listen('127.0.0.1:0', handler);
  client = await t.dial(listener.address);
  return client;
}

/** A plain net server; `onSocket` sees each accepted socket. Returns its address. */
async function rawServer(onSocket: (s: Socket) => void): Promise<string> {
  const server = createServer(onSocket);
  rawServers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RpcError);
    return err as RpcError;
  }
  throw new Error('expected a rejection');
}

describe('tcp transport', () => {
  it('binds host:port and round-trips service, endpoint, metadata and body exactly', async () => {
    let seen: Message | undefined;
    const c = await serve((req, reply) => {
      seen = req;
      reply({ ...responseTo(req, Buffer.from('réponse ✓'), true), metadata: { 'résumé': '✓✓' } });
    });
    expect(listener!.address).toMatch(/^127\.0\.0\.1:\d+$/);
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
    expect(listener!.connectionStats()).toHaveLength(1);
  });

  it('coalesces frames written in one tick into one socket write, and each tick into its own', async () => {
    const chunks: Buffer[] = [];
    const address = await rawServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    const writes = jest.spyOn(require('node:net').Socket.prototype, 'write');
    client = await new TcpTransport().dial(address);
    const port = Number(address.split(':')[1]);
    const ours = () => writes.mock.contexts.filter((s) => (s as Socket).remotePort === port).length;
    for (let i = 0; i < 100; i++) void client.request(request(), { timeout: 5_000 }).catch(() => undefined);
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
    for (let i = 0; i < 3; i++) void client.request(request(), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => ours() > 1, 'the second batch');
    expect(ours()).toBe(2);
  });

  it('gzips a request body above the threshold on the wire, and not one below it', async () => {
    const frames: ReturnType<FrameReader['next']>[] = [];
    const address = await rawServer((s) => {
      const r = new FrameReader(1 << 20);
      s.on('data', (c: Buffer) => {
        r.push(c);
        for (let f = r.next(); f; f = r.next()) frames.push(f);
      });
    });
    client = await new TcpTransport().dial(address);
    const big = Buffer.alloc(10_000, 'hello phobos ');
    void client.request(request({ body: big }), { timeout: 5_000 }).catch(() => undefined);
    void client.request(request({ body: Buffer.alloc(1_000, 'x') }), { timeout: 5_000 }).catch(() => undefined);
    await waitFor(() => frames.length === 2, 'two frames at the raw server');
    expect(frames[0]!.gzip).toBe(true);
    expect(frames[0]!.body.length).toBeLessThan(1_000);
    expect(gunzipSync(frames[0]!.body)).toEqual(big);
    expect(frames[1]!.gzip).toBe(false);
    expect(frames[1]!.body.length).toBe(1_000);
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
    listener = await new TcpTransport({ logger }).listen('127.0.0.1:0', (req, reply, peer) => {
      called++;
      echo(req, reply, peer);
    });
    // The sender allows 64 MiB; 8 MiB of zeros gzips to a few KiB, far under the server's 4 MiB frame limit.
    client = await new TcpTransport({ maxFrameSize: 64 << 20 }).dial(listener.address);
    const res = await client.request(request({ codec: 1, body: Buffer.alloc(8 << 20) }), { timeout: 5_000 });
    expect(res.error).toBe(true);
    expect(new JsonCodec().decode(res.body)).toMatchObject({ code: 413, id: 'phobos.transport' });
    expect(called).toBe(0);
    expect(warnings().some((l) => /inflates past/.test(String(l.reason)))).toBe(true);
    // The connection survives a refused body.
    expect((await client.request(request(), { timeout: 2_000 })).error).toBe(false);
  });

  it('fails a response that inflates past the client limit with 413', async () => {
    listener = await new TcpTransport({ maxFrameSize: 64 << 20 }).listen('127.0.0.1:0', (req, reply) =>
      reply(responseTo(req, Buffer.alloc(8 << 20), false)),
    );
    client = await new TcpTransport({ maxFrameSize: 1 << 20 }).dial(listener.address);
    expect((await rejection(client.request(request(), { timeout: 5_000 }))).code).toBe(413);
    expect(client.closed).toBe(false);
  });

  it('times out with 408 and sends a cancel the server sees', async () => {
    let cancelled!: () => void;
    const sawCancel = new Promise<void>((r) => (cancelled = r));
    const c = await serve((req, _reply, peer) => peer.onCancel(req.id, cancelled));
    const err = await rejection(c.request(request(), { timeout: 50 }));
    expect(err.code).toBe(408);
    await sawCancel;
    expect(c.inFlight).toBe(0);
    expect(c.closed).toBe(false);
  });

  it('sends the documented cancel frame when a request times out', async () => {
    const chunks: Buffer[] = [];
    const address = await rawServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    client = await new TcpTransport().dial(address);
    expect((await rejection(client.request(request(), { timeout: 30 }))).code).toBe(408);
    const cancel = '5048010200000000000100000000000000000000000000000000'; // docs/protocol.md, section 9
    await waitFor(() => Buffer.concat(chunks).toString('hex').endsWith(cancel), 'the cancel frame');
    const reader = new FrameReader(1 << 20);
    reader.push(Buffer.concat(chunks));
    expect([reader.next()?.kind, reader.next()?.kind, reader.next()]).toEqual([MessageKind.request, MessageKind.cancel, null]);
  });

  it('honours each request its own deadline, a short one arriving after a long one', async () => {
    const held: (() => void)[] = [];
    const c = await serve((req, reply) => held.push(() => reply(responseTo(req, req.body, false))));
    const long = c.request(request({ body: Buffer.from('long') }), { timeout: 5_000 });
    const start = Date.now();
    const short = await rejection(c.request(request(), { timeout: 60 }));
    expect(short.code).toBe(408);
    expect(Date.now() - start).toBeGreaterThanOrEqual(55);
    expect(Date.now() - start).toBeLessThan(1_000);
    expect(c.inFlight).toBe(1);
    await waitFor(() => held.length === 2, 'both requests at the handler');
    for (const release of held) release();
    expect(Buffer.from((await long).body).toString()).toBe('long');
  });

  it('aborts with 499 and cancels on the server; an already aborted signal sends nothing', async () => {
    const cancels: number[] = [];
    let arrived = 0;
    const c = await serve((req, _reply, peer) => {
      arrived++;
      peer.onCancel(req.id, () => cancels.push(req.id));
    });
    const ac = new AbortController();
    const p = c.request(request(), { timeout: 5_000, signal: ac.signal });
    await waitFor(() => arrived === 1, 'the request to reach the handler');
    ac.abort();
    expect((await rejection(p)).code).toBe(499);
    await waitFor(() => cancels.length === 1, 'the server to see the cancel');
    expect((await rejection(c.request(request(), { timeout: 5_000, signal: ac.signal }))).code).toBe(499);
    expect(c.inFlight).toBe(0);
  });

  it('fails every pending request with 503 when the connection drops', async () => {
    let received = 0;
    const address = await rawServer((s) =>
      s.on('data', (c: Buffer) => {
        received += c.length;
        if (received > 0) s.destroy();
      }),
    );
    client = await new TcpTransport().dial(address);
    const calls = Array.from({ length: 5 }, () => rejection(client!.request(request(), { timeout: 5_000 })));
    expect(client.inFlight).toBe(5);
    for (const err of await Promise.all(calls)) expect(err.code).toBe(503);
    expect(client.closed).toBe(true);
    expect(client.inFlight).toBe(0);
    expect((await rejection(client.request(request(), { timeout: 1_000 }))).code).toBe(503);
  });

  it('runs the cancel callbacks of in-flight requests when a client drops', async () => {
    const cancels: number[] = [];
    let arrived = 0;
    const c = await serve((req, _reply, peer) => {
      arrived++;
      peer.onCancel(req.id, () => cancels.push(req.id));
    });
    const calls = Array.from({ length: 3 }, () => c.request(request(), { timeout: 5_000 }).catch((e: RpcError) => e.code));
    await waitFor(() => arrived === 3, 'three requests at the handler');
    c.close();
    expect(await Promise.all(calls)).toEqual([503, 503, 503]);
    await waitFor(() => cancels.length === 3, 'three cancels on the server');
  });

  it('fails dial with 503 quickly when the connection is refused', async () => {
    const address = await rawServer(() => undefined);
    await new Promise((r) => rawServers.pop()!.close(r));
    const start = Date.now();
    expect((await rejection(new TcpTransport().dial(address))).code).toBe(503);
    expect(Date.now() - start).toBeLessThan(1_000);
  });

  it('answers ping with pong, echoing the body', async () => {
    const c = await serve(echo);
    expect(await c.ping(2_000)).toBeGreaterThanOrEqual(0);
    expect(listener!.connectionStats()[0].inFlight).toBe(0);
  });

  it('stops dispatching at maxInFlight and resumes as replies go out', async () => {
    const held: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const t = new TcpTransport();
    listener = await t.listen('127.0.0.1:0', (req, reply) => {
      peak = Math.max(peak, ++running);
      held.push(() => {
        running--;
        reply(responseTo(req, req.body, false));
      });
    }, { maxInFlight: 4 });
    client = await t.dial(listener.address);
    const calls = Array.from({ length: 10 }, (_, i) => client!.request(request({ body: Buffer.from([i]) }), { timeout: 5_000 }));
    let done = 0;
    const all = Promise.all(calls.map((p) => p.finally(() => done++)));
    await waitFor(() => held.length === 4 && listener!.connectionStats()[0]?.paused === true, 'the cap to be reached');
    held.shift()!();
    await waitFor(() => held.length === 4, 'a fifth request to be dispatched');
    // Release everything as it arrives until all ten have been answered.
    while (done < 10) {
      while (held.length) held.shift()!();
      await waitFor(() => held.length > 0 || done === 10, 'more requests or the last reply');
    }
    (await all).forEach((r, i) => expect(r.body[0]).toBe(i));
    expect(peak).toBe(4);
  });

  it('closes idle connections on listener close, and destroys busy ones after the grace', async () => {
    const t = new TcpTransport({ closeGrace: 100 });
    let arrived = 0;
    listener = await t.listen('127.0.0.1:0', () => arrived++);
    const idle = await t.dial(listener.address);
    client = await t.dial(listener.address);
    const hung = rejection(client.request(request(), { timeout: 10_000 }));
    await waitFor(() => arrived === 1, 'the hung request to arrive');
    const closing = listener.close();
    await waitFor(() => idle.closed, 'the idle client to be closed');
    expect(client.closed).toBe(false);
    await closing;
    expect((await hung).code).toBe(503);
    expect(client.closed).toBe(true);
    listener = undefined;
  });

  it('lets in-flight work finish before ending a busy connection on close', async () => {
    let reply!: () => void;
    const c = await serve((req, r) => (reply = () => r(responseTo(req, Buffer.from('done'), false))));
    const call = c.request(request(), { timeout: 5_000 });
    await waitFor(() => reply !== undefined, 'the request to arrive');
    const closing = listener!.close();
    reply();
    expect(Buffer.from((await call).body).toString()).toBe('done');
    await closing;
    await waitFor(() => c.closed, 'the client to see the close');
    listener = undefined;
  });

  it('answers a raw ping frame with a pong carrying the same id and body', async () => {
    await serve(echo);
    const raw = await RawClient.connect(listener!.address);
    raw.write(frameBytes(request({ kind: MessageKind.ping, service: '', endpoint: '', body: Buffer.from('abc') }), 77));
    await waitFor(() => raw.frames.length === 1, 'the pong');
    expect(raw.frames[0]).toMatchObject({ kind: MessageKind.pong, id: 77 });
    expect(Buffer.from(raw.frames[0].body).toString()).toBe('abc');
    raw.destroy();
  });
});
