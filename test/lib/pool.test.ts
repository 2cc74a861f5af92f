import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Pool, type PoolOptions } from '../../lib/client/pool';
import type { RpcError } from '../../lib/errors';
import { TcpTransport } from '../../lib/transport/tcp';
import type { TcpListener } from '../../lib/transport/tcp';
import { MemoryTransport } from '../../lib/transport/memory';
import { type ClientSocket, type Listener, type RequestHandler, type Transport, responseTo } from '../../lib/transport/transport';
import { eventually } from '../helpers/process';
import { rejection, request } from '../transport/helpers';

/** The client's connection pool over real tcp sockets: spreading, sharing dials, reconnect backoff, dead connections. */

const listeners: Listener[] = [];
const servers: Server[] = [];
const pools: Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A tcp listener answering every request with the remote address of the connection it arrived on. */
async function whoami(t = new TcpTransport(), address = '127.0.0.1:0'): Promise<TcpListener> {
  const handler: RequestHandler = (req, reply, peer) => reply(responseTo(req, Buffer.from(peer.remote), false));
  const l = await t.listen(address, handler);
  listeners.push(l);
  return l;
}

function pool(transport: Transport, options: PoolOptions = {}): Pool {
  const p = new Pool(transport, options);
  pools.push(p);
  return p;
}

/** A transport whose dial attempts are recorded (time and outcome); everything else is the real tcp transport. */
function countingTransport(options = {}) {
  const t = new TcpTransport({ heartbeatInterval: 0, ...options });
  const dials: { at: number; ok?: boolean; failedAt?: number }[] = [];
  const dial = t.dial.bind(t);
  t.dial = (address, opts) => {
    const entry: { at: number; ok?: boolean; failedAt?: number } = { at: performance.now() };
    dials.push(entry);
    return dial(address, opts).then(
      (s) => ((entry.ok = true), s),
      (e) => {
        entry.ok = false;
        entry.failedAt = performance.now();
        throw e;
      },
    );
  };
  return { t, dials };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const remoteOf = async (s: ClientSocket) => Buffer.from((await s.request(request(), { timeout: 2_000 })).body).toString();

describe('Pool', () => {
  it('shares one dial among concurrent first calls', async () => {
    const l = await whoami();
    const { t, dials } = countingTransport();
    const p = pool(t);
    const sockets = await Promise.all(Array.from({ length: 5 }, () => p.get(l.address)));
    expect(new Set(sockets).size).toBe(1);
    expect(dials).toHaveLength(1);
    expect(p.get(l.address)).toBe(sockets[0]);
  });

  it('with size 3 opens three connections and spreads calls evenly over them', async () => {
    const l = await whoami();
    const p = pool(new TcpTransport({ heartbeatInterval: 0 }), { size: 3 });
    // The pool fills up one dial at a time while calls keep flowing over what is open.
    await eventually(async () => {
      await remoteOf(await p.get(l.address));
      return p.connections(l.address).length === 3;
    });
    expect(l.connectionStats()).toHaveLength(3);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const remote = await remoteOf(await p.get(l.address));
      counts.set(remote, (counts.get(remote) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([10, 10, 10]);
  });

  it('keeps round-robin per address, so alternating between two nodes still uses every connection', async () => {
    const [a, b] = [await whoami(), await whoami()];
    const p = pool(new TcpTransport({ heartbeatInterval: 0 }), { size: 2 });
    for (const l of [a, b]) {
      await eventually(async () => {
        await remoteOf(await p.get(l.address));
        return p.connections(l.address).length === 2;
      });
    }
    const counts = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      for (const l of [a, b]) {
        const remote = `${l.address}<-${await remoteOf(await p.get(l.address))}`;
        counts.set(remote, (counts.get(remote) ?? 0) + 1);
      }
    }
    expect([...counts.values()]).toEqual([10, 10, 10, 10]);
  });

  it('backs off after a failed dial: fast 503 meanwhile, a new dial after it, doubling, reset by a success', async () => {
    const port = await closedPort();
    const address = `127.0.0.1:${port}`;
    const { t, dials } = countingTransport();
    const base = 100;
    const p = pool(t, { backoff: { base, max: 400 } });

    const first = await rejection(Promise.resolve(p.get(address)));
    expect(first).toMatchObject({ code: 503, id: 'phobos.transport' });
    expect(first.detail).toMatch(/^connect to .* failed/);
    const fast = await rejection(Promise.resolve(p.get(address)));
    expect(fast).toMatchObject({ code: 503, id: 'phobos.transport', retryable: true });
    const wait = Number(/^reconnecting to 127\.0\.0\.1:\d+ in (\d+) ms$/.exec(fast.detail)?.[1]);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(base);
    expect(dials).toHaveLength(1);

    // Keep asking every 5 ms: dials happen only when each backoff has passed, and each wait is longer than the last.
    while (dials.length < 4) {
      await Promise.resolve(p.get(address)).catch((e: RpcError) => expect(e.code).toBe(503));
      await new Promise((r) => setTimeout(r, 5));
    }
    await eventually(() => dials.every((d) => d.ok === false));
    const gaps = [1, 2, 3].map((i) => dials[i].at - dials[i - 1].failedAt!);
    console.log(`pool backoff waits (base ${base}, max 400): ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
    // Each pause is drawn from the upper half of base * 2^n, capped at max: lower bounds hold however slow the machine.
    expect(gaps[0]).toBeGreaterThanOrEqual(base / 2 - 1);
    expect(gaps[1]).toBeGreaterThanOrEqual(base - 1);
    expect(gaps[2]).toBeGreaterThanOrEqual(2 * base - 1);

    // The server comes up: the next dial after the backoff succeeds, and that resets the backoff to its base.
    const l = await whoami(new TcpTransport({ heartbeatInterval: 0 }), address);
    const socket = await eventually(async () => p.get(address), 5_000, 5);
    expect(await remoteOf(socket)).toMatch(/^127\.0\.0\.1:\d+$/);
    await l.close(); // the server closes the idle connection: it died under the pool
    await eventually(() => socket.closed);
    const afterReset = await rejection(Promise.resolve(p.get(address)));
    const resetWait = Number(/in (\d+) ms$/.exec(afterReset.detail)?.[1]);
    expect(resetWait).toBeLessThanOrEqual(base);
  });

  it('reports connections that die under it through onDead, with the 503 their calls failed with, and not its own', async () => {
    const accepted: Socket[] = [];
    const server = createServer((s) => accepted.push(s.on('error', () => undefined)));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dead: [string, Error][] = [];
    const p = pool(new TcpTransport({ heartbeatInterval: 0 }), { onDead: (a, e) => dead.push([a, e]) });
    const socket = await p.get(address);
    const waiting = socket.request(request(), { timeout: 5_000 });
    await eventually(() => accepted.length === 1);
    accepted[0].destroy();
    const err = await rejection(waiting);
    expect(dead).toEqual([[address, err]]);
    expect(err).toMatchObject({ code: 503 });
    expect(p.connections(address)).toHaveLength(0);

    p.close();
    expect(dead).toHaveLength(1);
  });

  it('finds dead sockets of transports without onClose on next use (memory transport)', async () => {
    const t = new MemoryTransport();
    const l = await t.listen('memory', (req, reply) => reply(responseTo(req, req.body, false)));
    const dead: string[] = [];
    const p = pool(t, { onDead: (a) => dead.push(a) });
    const socket = await p.get(l.address);
    await l.close();
    await eventually(() => socket.closed);
    expect(dead).toEqual([]);
    const err = await rejection(Promise.resolve(p.get(l.address)));
    expect(err.detail).toMatch(/^reconnecting to memory:\d+ in \d+ ms$/);
    expect(dead).toEqual([l.address]);
  });

  it('close() during a dial leaves no socket open, and refuses later gets', async () => {
    let opened = 0;
    let closed = 0;
    const server = createServer((s) => {
      opened++;
      s.on('error', () => undefined).on('close', () => closed++);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const p = pool(new TcpTransport({ heartbeatInterval: 0 }));
    const dialing = p.get(address);
    p.close();
    const err = await rejection(Promise.resolve(dialing));
    expect(err).toMatchObject({ code: 503, detail: 'connection pool is closed' });
    await eventually(() => opened === 1 && closed === 1, 5_000);
    expect(p.connections(address)).toHaveLength(0);
    const later = await rejection(Promise.resolve(p.get(address)));
    expect(later.detail).toBe('connection pool is closed');
    expect(opened).toBe(1);
  });
});
