import type { RpcError } from '../../lib/errors';
import { TcpTransport } from '../../lib/transport/tcp';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { MessageKind, responseTo } from '../../lib/transport/transport';
import { rejection, request, waitFor, tcpFixture } from './helpers';

const fx = tcpFixture();
const { rawServer, serve, servers } = fx;

/** Deadlines, cancellation, dropped connections, the in-flight cap and shutdown. */
describe('tcp transport: lifecycle', () => {
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
    fx.client = await new TcpTransport().dial(address);
    expect((await rejection(fx.client.request(request(), { timeout: 30 }))).code).toBe(408);
    // docs/protocol.md §7 and §10: a cancel (kind 2) for id 1 whose reason, bytes 10-13, is 408: the deadline passed.
    const cancel = '5048010200000000000100000198000000000000000000000000';
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
    fx.client = await new TcpTransport().dial(address);
    const calls = Array.from({ length: 5 }, () => rejection(fx.client!.request(request(), { timeout: 5_000 })));
    expect(fx.client.inFlight).toBe(5);
    for (const err of await Promise.all(calls)) expect(err.code).toBe(503);
    expect(fx.client.closed).toBe(true);
    expect(fx.client.inFlight).toBe(0);
    expect((await rejection(fx.client.request(request(), { timeout: 1_000 }))).code).toBe(503);
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
    await new Promise((r) => servers.pop()!.close(r));
    const start = Date.now();
    expect((await rejection(new TcpTransport().dial(address))).code).toBe(503);
    expect(Date.now() - start).toBeLessThan(1_000);
  });

  it('stops dispatching at maxInFlight and resumes as replies go out', async () => {
    const held: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const t = new TcpTransport();
    fx.listener = await t.listen('127.0.0.1:0', (req, reply) => {
      peak = Math.max(peak, ++running);
      held.push(() => {
        running--;
        reply(responseTo(req, req.body, false));
      });
    }, { maxInFlight: 4 });
    fx.client = await t.dial(fx.listener.address);
    const calls = Array.from({ length: 10 }, (_, i) => fx.client!.request(request({ body: Buffer.from([i]) }), { timeout: 5_000 }));
    let done = 0;
    const all = Promise.all(calls.map((p) => p.finally(() => done++)));
    await waitFor(() => held.length === 4 && fx.listener!.connectionStats()[0]?.paused === true, 'the cap to be reached');
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
    fx.listener = await t.listen('127.0.0.1:0', () => arrived++);
    const idle = await t.dial(fx.listener.address);
    fx.client = await t.dial(fx.listener.address);
    const hung = rejection(fx.client.request(request(), { timeout: 10_000 }));
    await waitFor(() => arrived === 1, 'the hung request to arrive');
    const closing = fx.listener.close();
    await waitFor(() => idle.closed, 'the idle client to be closed');
    expect(fx.client.closed).toBe(false);
    await closing;
    expect((await hung).code).toBe(503);
    expect(fx.client.closed).toBe(true);
    fx.listener = undefined;
  });

  it('lets in-flight work finish before ending a busy connection on close', async () => {
    let reply!: () => void;
    const c = await serve((req, r) => (reply = () => r(responseTo(req, Buffer.from('done'), false))));
    const call = c.request(request(), { timeout: 5_000 });
    await waitFor(() => reply !== undefined, 'the request to arrive');
    const closing = fx.listener!.close();
    reply();
    expect(Buffer.from((await call).body).toString()).toBe('done');
    await closing;
    await waitFor(() => c.closed, 'the client to see the close');
    fx.listener = undefined;
  });
});
