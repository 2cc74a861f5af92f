import type { Socket } from 'node:net';
import { Method, RpcError, Service } from '../../lib';
import { TcpTransport } from '../../lib/transport/tcp';
import { Heartbeat } from '../../lib/transport/tcp/heartbeat';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { type Message, MessageKind, type RequestHandler, responseTo } from '../../lib/transport/transport';
import { testService, stopAll } from '../helpers/services';
import { type Frame, RawClient, captureLogger, frameBytes, rejection, request, tcpFixture, waitFor } from './helpers';

/** Heartbeats on idle tcp connections: who pings, when, and what a missed answer does. Real sockets throughout. */

const echo: RequestHandler = (req, reply) => reply(responseTo(req, req.body, false));
const fast = { heartbeatInterval: 200, heartbeatTimeout: 200 };
/** Upper bound for "closed within interval + timeout", generous for a loaded 2-core machine. */
const CLOSE_BOUND = 3_000;

@Service({ name: 'hb' })
class Echo {
  @Method()
  async echo(req: unknown): Promise<unknown> {
    return req;
  }
}

const fx = tcpFixture();
afterAll(stopAll);

const pings = (frames: Frame[]) => frames.filter((f) => f.kind === MessageKind.ping);
const pongTo = (f: Frame) => frameBytes({ ...f, kind: MessageKind.pong }, f.id);

/** A raw tcp server peer: decodes what it receives, optionally answers pings and/or requests. */
function rawPeer(opts: { answerPings: boolean; answerRequests: boolean }) {
  const frames: Frame[] = [];
  const sockets: Socket[] = [];
  const address = fx.rawServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    const reader = new FrameReader(1 << 20);
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.next(); f; f = reader.next()) {
        frames.push(f);
        if (f.kind === MessageKind.ping && opts.answerPings) s.write(pongTo(f));
        if (f.kind === MessageKind.request && opts.answerRequests) s.write(frameBytes(responseTo(f, f.body, false), f.id));
      }
    });
  });
  return { frames, sockets, address };
}

/** A raw client that answers every ping it receives with a pong. */
async function answeringClient(address: string): Promise<RawClient> {
  const raw = await RawClient.connect(address);
  let answered = 0;
  raw.socket.on('data', () => {
    for (; answered < raw.frames.length; answered++) {
      const f = raw.frames[answered];
      if (f.kind === MessageKind.ping) raw.write(pongTo(f));
    }
  });
  return raw;
}

describe('heartbeat: server side', () => {
  it('closes a client that never answers pings within interval + timeout, after pinging it with id 0', async () => {
    const log = captureLogger();
    const listener = await new TcpTransport({ ...fast, logger: log.logger }).listen('127.0.0.1:0', echo);
    fx.listener = listener;
    const started = performance.now();
    const raw = await RawClient.connect(listener.address);
    const port = raw.socket.localPort;
    await raw.closed;
    const took = performance.now() - started;
    console.log(`server closed a silent client after ${took.toFixed(0)} ms (interval 200 + timeout 200)`);
    // Never before the peer had its full interval and timeout; slack only ever makes it later.
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(CLOSE_BOUND);
    expect(pings(raw.frames)).toHaveLength(1);
    expect(raw.frames[0]).toMatchObject({ kind: MessageKind.ping, id: 0, service: '', endpoint: '' });
    expect(log.warnings()).toContainEqual(
      expect.objectContaining({ remote: `127.0.0.1:${port}`, reason: expect.stringMatching(/^heartbeat missed/) }),
    );
    expect(listener.connectionStats()).toHaveLength(0);
  });

  it('keeps a client that answers pings open across several intervals', async () => {
    const listener = await new TcpTransport(fast).listen('127.0.0.1:0', echo);
    fx.listener = listener;
    const raw = await answeringClient(listener.address);
    let closed = false;
    void raw.closed.then(() => (closed = true));
    // Four answered pings = at least four idle intervals, each one a chance to be dropped.
    await waitFor(() => pings(raw.frames).length >= 4 || closed, 'four pings', 10_000);
    expect(closed).toBe(false);
    expect(listener.connectionStats()).toHaveLength(1);
    raw.write(frameBytes(request({ body: Buffer.from('still here') }), 9));
    await waitFor(() => raw.frames.some((f) => f.kind === MessageKind.response), 'the echo');
    expect(Buffer.from(raw.frames.find((f) => f.kind === MessageKind.response)!.body).toString()).toBe('still here');
    raw.destroy();
  });

  it('sends no pings on a busy connection, and starts once it goes quiet', async () => {
    const listener = await new TcpTransport({ heartbeatInterval: 400, heartbeatTimeout: 400 }).listen('127.0.0.1:0', echo);
    fx.listener = listener;
    const raw = await answeringClient(listener.address);
    // A request every 20 ms for 2 s: five intervals' worth of traffic, never 400 ms of silence.
    let sent = 0;
    let maxGap = 0;
    let last = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        raw.write(frameBytes(request({ body: Buffer.from(String(sent)) }), ++sent));
        if (sent === 100) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await waitFor(() => raw.frames.filter((f) => f.kind === MessageKind.response).length === 100, 'every echo');
    console.log(`busy server connection: 100 requests, largest gap between sends ${maxGap.toFixed(0)} ms, ${pings(raw.frames).length} pings`);
    expect(pings(raw.frames)).toHaveLength(0);
    await waitFor(() => pings(raw.frames).length > 0, 'a ping once idle', 5_000);
    raw.destroy();
  });

  it('does not count silence against a client while the server itself has stopped reading (in-flight cap)', async () => {
    const held: [Message, (m: Message) => void][] = [];
    const listener = await new TcpTransport({ heartbeatInterval: 100, heartbeatTimeout: 100, maxInFlight: 1 }).listen(
      '127.0.0.1:0',
      (req, reply) => held.push([req, reply]),
    );
    fx.listener = listener;
    // The client itself never pings, so only the server's heartbeat is under test.
    const client = await new TcpTransport({ heartbeatInterval: 0 }).dial(listener.address);
    fx.client = client;
    const first = client.request(request({ body: Buffer.from('1') }), { timeout: 10_000 });
    const second = client.request(request({ body: Buffer.from('2') }), { timeout: 10_000 });
    await waitFor(() => held.length === 1 && listener.connectionStats()[0]?.paused === true, 'the server to pause');
    // Many heartbeat periods pass while the server is paused by its own cap.
    await new Promise((r) => setTimeout(r, 800));
    expect(client.closed).toBe(false);
    held[0][1](responseTo(held[0][0], held[0][0].body, false));
    await waitFor(() => held.length === 2, 'the second request');
    held[1][1](responseTo(held[1][0], held[1][0].body, false));
    expect((await Promise.all([first, second])).map((m) => Buffer.from(m.body).toString())).toEqual(['1', '2']);
  });

  it('takes its settings from createService({ plugins: { tcp: {...} } })', async () => {
    const service = testService({ name: 'hb', plugins: { tcp: fast } }).handle(new Echo());
    await service.start();
    const raw = await RawClient.connect(service.address!);
    const started = performance.now();
    await raw.closed;
    expect(performance.now() - started).toBeLessThan(CLOSE_BOUND);
    expect(pings(raw.frames)).toHaveLength(1);
  });
});

describe('heartbeat: client side', () => {
  it('closes a connection to a server that stops answering, failing pending requests with 503', async () => {
    const log = captureLogger();
    const peer = rawPeer({ answerPings: false, answerRequests: false });
    const client = await new TcpTransport({ ...fast, logger: log.logger }).dial(await peer.address);
    fx.client = client;
    const reasons: (Error | undefined)[] = [];
    client.onClose((err) => reasons.push(err));
    const started = performance.now();
    const err = await rejection(client.request(request(), { timeout: 20_000 }));
    const took = performance.now() - started;
    console.log(`client dropped a silent server after ${took.toFixed(0)} ms (interval 200 + timeout 200)`);
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(CLOSE_BOUND);
    expect(err).toMatchObject({ id: 'phobos.transport', code: 503 });
    expect(err.detail).toMatch(/^heartbeat missed: no frame received within 200 ms after a ping \(127\.0\.0\.1:\d+\)$/);
    expect(client.closed).toBe(true);
    expect(reasons).toEqual([err]);
    expect(pings(peer.frames).map((f) => f.id)).toEqual([0]);
    expect(log.warnings()).toContainEqual(expect.objectContaining({ remote: client.remote, reason: expect.stringMatching(/^heartbeat missed/) }));
    // The server side sees the connection go.
    await waitFor(() => peer.sockets[0].destroyed || peer.sockets[0].readableEnded, 'the server side to see the close');
  });

  it('keeps a connection whose server answers pings, and counts any frame as life', async () => {
    const peer = rawPeer({ answerPings: true, answerRequests: true });
    const client = await new TcpTransport(fast).dial(await peer.address);
    fx.client = client;
    await waitFor(() => pings(peer.frames).length >= 4, 'four pings', 10_000);
    expect(client.closed).toBe(false);
    const res = await client.request(request({ body: Buffer.from('ok') }), { timeout: 2_000 });
    expect(Buffer.from(res.body).toString()).toBe('ok');
  });

  it('sends no pings while responses keep arriving', async () => {
    const peer = rawPeer({ answerPings: true, answerRequests: true });
    const client = await new TcpTransport({ heartbeatInterval: 400, heartbeatTimeout: 400 }).dial(await peer.address);
    fx.client = client;
    for (let i = 0; i < 100; i++) {
      await client.request(request({ body: Buffer.from(String(i)) }), { timeout: 2_000 });
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(peer.frames.filter((f) => f.kind === MessageKind.request)).toHaveLength(100);
    expect(pings(peer.frames)).toHaveLength(0);
    await waitFor(() => pings(peer.frames).length > 0, 'a ping once idle', 5_000);
  });

  it('tells onClose listeners why: nothing when we closed it, the 503 when the server went away', async () => {
    const peer = rawPeer({ answerPings: true, answerRequests: true });
    const address = await peer.address;
    const t = new TcpTransport({ heartbeatInterval: 0 });
    const ours = await t.dial(address);
    const ourReasons: (Error | undefined)[] = [];
    ours.onClose((err) => ourReasons.push(err));
    ours.close();
    expect(ourReasons).toEqual([undefined]);

    const theirs = await t.dial(address);
    fx.client = theirs;
    await waitFor(() => peer.sockets.length === 2, 'the second connection');
    const closed = new Promise<Error | undefined>((resolve) => theirs.onClose(resolve));
    peer.sockets[1].destroy();
    const err = await closed;
    expect(err).toBeInstanceOf(RpcError);
    expect(err).toMatchObject({ code: 503, id: 'phobos.transport' });
    // A listener added after the close hears at once, with the same reason.
    const late: (Error | undefined)[] = [];
    theirs.onClose((e) => late.push(e));
    ours.onClose((e) => late.push(e));
    expect(late).toEqual([err, undefined]);
  });

  it('is off when either setting is 0', () => {
    const hooks = { ping: () => undefined, dead: () => undefined };
    expect(Heartbeat.start(0, 200, hooks)).toBeUndefined();
    expect(Heartbeat.start(200, 0, hooks)).toBeUndefined();
    const on = Heartbeat.start(200, 200, hooks);
    expect(on).toBeInstanceOf(Heartbeat);
    on!.stop();
  });
});
