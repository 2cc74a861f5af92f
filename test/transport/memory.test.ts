import { MemoryTransport } from '../../lib/transport/memory';
import type { ClientSocket, Listener, Message, RequestHandler } from '../../lib/transport/transport';
import { responseTo } from '../../lib/transport/transport';
import { rejection, request, waitFor } from './helpers';

const echo: RequestHandler = (req, reply) => reply(responseTo(req, req.body, false));
const listeners: Listener[] = [];
const t = new MemoryTransport();

async function listen(handler: RequestHandler, address = 'memory:0', options = {}): Promise<Listener> {
  const l = await t.listen(address, handler, options);
  listeners.push(l);
  return l;
}

afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
});

describe('memory transport', () => {
  it('round-trips a message through a memory:N address, copying the bytes', async () => {
    let seen: Message | undefined;
    const l = await listen((req, reply) => {
      seen = req;
      req.body[0] = 99; // must not reach the caller's buffer
      reply({ ...responseTo(req, Buffer.from('pong ✓'), false), metadata: { a: 'b' } });
    });
    expect(l.address).toMatch(/^memory:\d+$/);
    const c = await t.dial(l.address);
    const body = Buffer.from([1, 2, 3]);
    const res = await c.request(request({ service: 'grüße', endpoint: '😀', metadata: { k: 'v' }, body }), { timeout: 1_000 });
    expect(seen).toMatchObject({ service: 'grüße', endpoint: '😀', metadata: { k: 'v' }, timeout: 1_000 });
    expect(body[0]).toBe(1);
    expect(res).toMatchObject({ kind: 1, id: seen!.id, error: false, metadata: { a: 'b' } });
    expect(Buffer.from(res.body).toString()).toBe('pong ✓');
    expect(c.inFlight).toBe(0);
  });

  it('multiplexes concurrent requests answered out of order', async () => {
    const held: (() => void)[] = [];
    const l = await listen((req, reply) => held.push(() => reply(responseTo(req, req.body, false))));
    const c = await t.dial(l.address);
    const calls = Array.from({ length: 50 }, (_, i) => c.request(request({ body: Buffer.from([i]) }), { timeout: 2_000 }));
    await waitFor(() => held.length === 50, 'all requests at the handler');
    for (const release of held.reverse()) release();
    (await Promise.all(calls)).forEach((r, i) => expect(r.body[0]).toBe(i));
  });

  it('times out with 408 and runs the server cancel callback', async () => {
    let cancelled = false;
    const l = await listen((req, _reply, peer) => peer.onCancel(req.id, () => (cancelled = true)));
    const c = await t.dial(l.address);
    expect((await rejection(c.request(request(), { timeout: 30 }))).code).toBe(408);
    await waitFor(() => cancelled, 'the cancel callback');
    expect(c.inFlight).toBe(0);
    c.close();
  });

  it('aborts with 499 and cancels', async () => {
    let cancelled = false;
    let arrived = false;
    const l = await listen((req, _reply, peer) => {
      arrived = true;
      peer.onCancel(req.id, () => (cancelled = true));
    });
    const c = await t.dial(l.address);
    const ac = new AbortController();
    const p = c.request(request(), { timeout: 5_000, signal: ac.signal });
    await waitFor(() => arrived, 'the request to arrive');
    ac.abort();
    expect((await rejection(p)).code).toBe(499);
    await waitFor(() => cancelled, 'the cancel callback');
    c.close();
  });

  it('fails dial to an unknown address with 503', async () => {
    expect((await rejection(t.dial('memory:no-such-listener'))).code).toBe(503);
  });

  it('refuses a taken address and a malformed one', async () => {
    await listen(echo, 'memory:taken');
    await expect(t.listen('memory:taken', echo)).rejects.toThrow(/already in use/);
    await expect(t.listen('tcp:1', echo)).rejects.toThrow(/invalid memory address/);
  });

  it('fails pending requests with 503 and cancels handlers when the listener closes', async () => {
    let cancelled = 0;
    const l = await new MemoryTransport({ closeGrace: 20 }).listen('memory:0', (req, _reply, peer) =>
      peer.onCancel(req.id, () => cancelled++),
    );
    const c = await t.dial(l.address);
    const p = rejection(c.request(request(), { timeout: 5_000 }));
    await waitFor(() => c.inFlight === 1, 'the request to be pending');
    await l.close();
    expect((await p).code).toBe(503);
    expect(cancelled).toBe(1);
    expect(c.closed).toBe(true);
    expect((await rejection(t.dial(l.address))).code).toBe(503);
  });

  it('queues requests past maxInFlight', async () => {
    const held: (() => void)[] = [];
    const l = await listen((req, reply) => held.push(() => reply(responseTo(req, req.body, false))), 'memory:0', {
      maxInFlight: 2,
    });
    const c: ClientSocket = await t.dial(l.address);
    const calls = Array.from({ length: 5 }, () => c.request(request(), { timeout: 2_000 }));
    await waitFor(() => held.length === 2, 'two dispatched');
    let done = 0;
    const all = Promise.all(calls.map((p) => p.finally(() => done++)));
    while (done < 5) {
      expect(held.length).toBeLessThanOrEqual(2);
      held.shift()?.();
      await waitFor(() => held.length > 0 || done === 5, 'the next request or the last reply');
    }
    await all;
  });

  it('fails requests on a closed socket with 503', async () => {
    const l = await listen(echo);
    const c = await t.dial(l.address);
    c.close();
    expect(c.closed).toBe(true);
    expect((await rejection(c.request(request(), { timeout: 1_000 }))).code).toBe(503);
  });
});
