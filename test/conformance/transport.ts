import { RpcError } from '../../lib/errors';
import { MessageKind, responseTo, type Listener, type Message, type RequestHandler, type Transport } from '../../lib/transport/transport';

/**
 * The Transport conformance suite: memory, tcp and nats run these same tests, so request/reply, error replies,
 * multiplexing, deadlines, cancellation and dead peers mean the same on each. The listener and the dialer use
 * transport instances of their own, as two processes would.
 */

export interface TransportHarness {
  /** A new transport instance (its own engine connection, for engine transports). */
  make(): Transport | Promise<Transport>;
  /** The address handed to listen(): `127.0.0.1:0` for tcp, whatever the transport takes otherwise. */
  listenAddress: string;
  /** An address nobody listens on: dialing it, or calling through it, must fail with 503 rather than wait. */
  deadAddress: string;
}

function request(over: Partial<Message> = {}): Message {
  return {
    kind: MessageKind.request,
    id: 0,
    codec: 2,
    service: 'conformance',
    endpoint: 'Echo.echo',
    timeout: 0,
    metadata: undefined,
    error: false,
    body: Buffer.from('hello'),
    ...over,
  };
}

const text = (m: Message): string => Buffer.from(m.body).toString();

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw new Error(`expected an RpcError, got ${String(err)}`);
  }
  throw new Error('expected a rejection, got a reply');
}

export function transportConformance(harness: TransportHarness): void {
  const transports: Transport[] = [];
  const listeners: Listener[] = [];
  async function transport(): Promise<Transport> {
    const t = await harness.make();
    transports.push(t);
    return t;
  }
  async function serve(handler: RequestHandler): Promise<{ listener: Listener; client: Transport }> {
    const listener = await (await transport()).listen(harness.listenAddress, handler, { service: 'conformance' });
    listeners.push(listener);
    return { listener, client: await transport() };
  }
  /** Echoes the body upper-cased with the request's metadata; `fail` answers an error reply; `never` never answers. */
  const echo: RequestHandler = (req, reply) => {
    const body = text(req);
    if (body === 'never') return;
    if (body === 'fail') return reply(responseTo(req, Buffer.from('{"code":500}'), true));
    const answer = () => reply({ ...responseTo(req, Buffer.from(body.toUpperCase()), false), metadata: req.metadata });
    // Later requests overtake earlier ones: replies must still find their callers.
    if (body.startsWith('slow')) setTimeout(answer, 30);
    else answer();
  };

  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.close()));
    await Promise.all(transports.splice(0).map((t) => t.close?.()));
  });

  describe('transport conformance', () => {
    test('a request gets its reply: body, codec and metadata intact', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      const reply = await socket.request(request({ metadata: { trace: 'abc', 'x-user': 'ann' } }), { timeout: 2000 });
      expect(reply.kind).toBe(MessageKind.response);
      expect(reply.error).toBe(false);
      expect(reply.codec).toBe(2);
      expect(text(reply)).toBe('HELLO');
      expect(reply.metadata).toEqual({ trace: 'abc', 'x-user': 'ann' });
      socket.close();
    });

    test('the server sees the service, endpoint and deadline the caller sent', async () => {
      let seen: Message | undefined;
      const { listener, client } = await serve((req, reply) => {
        seen = req;
        reply(responseTo(req, Buffer.from('ok'), false));
      });
      const socket = await client.dial(listener.address);
      await socket.request(request({ service: 'conformance', endpoint: 'Svc.method', timeout: 1500 }), { timeout: 1500 });
      expect(seen?.service).toBe('conformance');
      expect(seen?.endpoint).toBe('Svc.method');
      expect(seen?.timeout).toBeGreaterThan(1000);
      expect(seen?.timeout).toBeLessThanOrEqual(1500);
      socket.close();
    });

    test('an error reply arrives as an error reply, not as a transport failure', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      const reply = await socket.request(request({ body: Buffer.from('fail') }), { timeout: 2000 });
      expect(reply.error).toBe(true);
      expect(text(reply)).toBe('{"code":500}');
      socket.close();
    });

    test('200 concurrent requests on one socket each get their own reply, overtaking allowed', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      const bodies = Array.from({ length: 200 }, (_, i) => (i % 2 ? `slow-${i}` : `fast-${i}`));
      const replies = await Promise.all(bodies.map((b) => socket.request(request({ body: Buffer.from(b) }), { timeout: 5000 })));
      expect(replies.map(text)).toEqual(bodies.map((b) => b.toUpperCase()));
      expect(socket.inFlight).toBe(0);
      socket.close();
    });

    test('a 256 KiB body goes both ways byte for byte', async () => {
      const { listener, client } = await serve((req, reply) => reply(responseTo(req, Buffer.from(req.body).reverse(), false)));
      const socket = await client.dial(listener.address);
      const body = Buffer.alloc(256 * 1024);
      for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
      const reply = await socket.request(request({ body }), { timeout: 5000 });
      expect(Buffer.compare(Buffer.from(reply.body), Buffer.from(body).reverse())).toBe(0);
      socket.close();
    });

    test('no reply within the timeout is a 408, on time, and the socket keeps working', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      const started = Date.now();
      const err = await rejection(socket.request(request({ body: Buffer.from('never') }), { timeout: 150 }));
      const took = Date.now() - started;
      expect(err.code).toBe(408);
      expect(took).toBeGreaterThanOrEqual(140);
      expect(took).toBeLessThan(1000);
      expect(text(await socket.request(request(), { timeout: 2000 }))).toBe('HELLO');
      socket.close();
    });

    test("an aborted request rejects with 499 and the server hears the cancel", async () => {
      let cancelled = false;
      let arrived!: () => void;
      const seen = new Promise<void>((r) => (arrived = r));
      const { listener, client } = await serve((req, _reply, peer) => {
        peer.onCancel(req.id, () => (cancelled = true));
        arrived();
      });
      const socket = await client.dial(listener.address);
      const ac = new AbortController();
      const pending = rejection(socket.request(request(), { timeout: 5000, signal: ac.signal }));
      await seen;
      ac.abort();
      expect((await pending).code).toBe(499);
      const deadline = Date.now() + 2000;
      while (!cancelled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(cancelled).toBe(true);
      socket.close();
    });

    test('calls through a closed listener fail with 503 instead of waiting for their deadline', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      expect(text(await socket.request(request(), { timeout: 2000 }))).toBe('HELLO');
      await listener.close();
      listeners.splice(listeners.indexOf(listener), 1);
      const started = Date.now();
      const err = await rejection(
        (async () => {
          const again = socket.closed ? await client.dial(listener.address) : socket;
          return again.request(request(), { timeout: 10_000 });
        })(),
      );
      expect(err.code).toBe(503);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    test('an address nobody serves fails with 503, fast', async () => {
      const client = await transport();
      const started = Date.now();
      const err = await rejection(
        (async () => {
          const socket = await client.dial(harness.deadAddress, { connectTimeout: 2000 });
          return socket.request(request(), { timeout: 10_000 });
        })(),
      );
      expect(err.code).toBe(503);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    test('close() on the socket fails what is pending with 503 and refuses new requests', async () => {
      const { listener, client } = await serve(echo);
      const socket = await client.dial(listener.address);
      const pending = rejection(socket.request(request({ body: Buffer.from('never') }), { timeout: 10_000 }));
      await new Promise((r) => setTimeout(r, 20));
      socket.close();
      expect((await pending).code).toBe(503);
      expect(socket.closed).toBe(true);
      expect((await rejection(socket.request(request(), { timeout: 1000 }))).code).toBe(503);
    });
  });
}
