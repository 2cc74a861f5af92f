import { randomBytes } from 'node:crypto';
import { TcpTransport } from '../../lib/transport/tcp';
import type { TcpClientSocket, TcpListener } from '../../lib/transport/tcp';
import type { TcpTransportOptions } from '../../lib/transport/tcp';
import { type RequestHandler, responseTo } from '../../lib/transport/transport';
import { RawClient, captureLogger, frameBytes, header, request, waitFor } from './helpers';

/**
 * Each case: a raw `net` client misbehaves against a real listener. The bad connection must be closed with a logged
 * reason, and a well-behaved client connected before it must still be answered.
 */
const echo: RequestHandler = (req, reply) => reply(responseTo(req, req.body, false));

let listener: TcpListener;
let good: TcpClientSocket;
let log: ReturnType<typeof captureLogger>;
const raws: RawClient[] = [];

async function setup(options: TcpTransportOptions = {}, handler: RequestHandler = echo): Promise<void> {
  log = captureLogger();
  const t = new TcpTransport({ logger: log.logger, ...options });
  listener = await t.listen('127.0.0.1:0', handler);
  good = await t.dial(listener.address);
  await good.request(request(), { timeout: 2_000 });
}

async function raw(): Promise<RawClient> {
  const r = await RawClient.connect(listener.address);
  raws.push(r);
  return r;
}

/** The raw connection was closed by the server, a warning names `reason`, and the good client is still served. */
async function expectClosedAndServing(r: RawClient, reason: RegExp): Promise<void> {
  await r.closed;
  await waitFor(() => log.warnings().some((l) => reason.test(String(l.reason))), `a warning matching ${reason}`);
  const w = log.warnings().find((l) => reason.test(String(l.reason)))!;
  expect(w.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  const res = await good.request(request({ body: Buffer.from('still here') }), { timeout: 2_000 });
  expect(Buffer.from(res.body).toString()).toBe('still here');
  expect(good.closed).toBe(false);
}

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  good?.close();
  await listener?.close();
});

describe('tcp listener against bad input', () => {
  it('closes a connection that sends random bytes', async () => {
    await setup();
    const r = await raw();
    const junk = randomBytes(256);
    junk[0] = 0x00; // never the magic's first byte
    r.write(junk);
    await expectClosedAndServing(r, /bad magic/);
  });

  it('closes a connection with a bad magic number', async () => {
    await setup();
    const r = await raw();
    r.write(header({ magic: 0xcafe }));
    await expectClosedAndServing(r, /bad magic 0xcafe/);
  });

  it('closes a connection speaking an unknown version or kind', async () => {
    await setup();
    const v = await raw();
    v.write(header({ version: 2 }));
    await expectClosedAndServing(v, /unsupported version 2/);
    const k = await raw();
    k.write(header({ kind: 99 }));
    await expectClosedAndServing(k, /unknown frame kind 99/);
  });

  it('closes a connection that ends in the middle of a frame', async () => {
    await setup();
    const r = await raw();
    const frame = frameBytes(request({ body: Buffer.alloc(100) }), 1);
    r.socket.end(frame.subarray(0, 60));
    await expectClosedAndServing(r, /ended in the middle of a frame/);
  });

  it('closes a connection declaring a 4 GiB frame as soon as the header arrives', async () => {
    await setup();
    const r = await raw();
    const before = process.memoryUsage().arrayBuffers;
    // Only the header is sent: the server must decide without waiting for (or buffering) any body.
    r.write(header({ bLen: 0xffffffff }));
    await expectClosedAndServing(r, /exceeds the maximum frame size/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('closes a connection whose half-sent frame never finishes', async () => {
    await setup({ frameTimeout: 200 });
    const r = await raw();
    const start = Date.now();
    r.write(frameBytes(request({ body: Buffer.alloc(1000) }), 1).subarray(0, 500));
    await expectClosedAndServing(r, /frame not completed within 200 ms/);
    expect(Date.now() - start).toBeGreaterThanOrEqual(190);
  });

  it('closes a connection whose metadata section is malformed', async () => {
    await setup();
    const r = await raw();
    const md = Buffer.from([0x00, 0x09, 0x61, 0x62]); // claims a 9-byte key, has 2 bytes
    r.write(Buffer.concat([header({ mLen: md.length }), md]));
    await expectClosedAndServing(r, /metadata entry truncated/);
  });

  it('closes a connection that reuses a request id still in flight', async () => {
    const held: (() => void)[] = [];
    await setup({}, (req, reply, peer) => {
      if (req.service === 'hold') held.push(() => reply(responseTo(req, req.body, false)));
      else echo(req, reply, peer);
    });
    const r = await raw();
    r.write(Buffer.concat([frameBytes(request({ service: 'hold' }), 5), frameBytes(request({ service: 'hold' }), 5)]));
    await expectClosedAndServing(r, /duplicate request id 5/);
    for (const release of held) release();
  });

  it('stops reading a client that never reads its replies, keeping memory bounded', async () => {
    const reply = Buffer.alloc(256 * 1024, 1);
    reply.fill(Math.random().toString(36)); // not worth gzipping much either way
    let handled = 0;
    await setup({ compressThreshold: Infinity }, (req, rep, peer) => {
      if (req.service !== 'big') return echo(req, rep, peer);
      handled++;
      rep(responseTo(req, reply, false));
    });
    const r = await raw();
    r.socket.pause(); // never read: replies pile up in the kernel, then in the server
    const total = 200; // 50 MiB of replies if nothing pushed back
    const burst = Buffer.concat(Array.from({ length: total }, (_, i) => frameBytes(request({ service: 'big' }), i + 1)));
    r.write(burst);
    await waitFor(() => listener.connectionStats().some((c) => c.paused && c.queuedBytes > 0), 'the server to pause');
    const stalled = listener.connectionStats().find((c) => c.paused)!;
    expect(handled).toBeLessThan(total);
    // Bounded: what the server holds for this client is a bounded batch, not 100 MiB.
    expect(stalled.queuedBytes).toBeLessThan(8 << 20);
    // The good client on its own connection is unaffected.
    const res = await good.request(request({ body: Buffer.from('ok') }), { timeout: 2_000 });
    expect(Buffer.from(res.body).toString()).toBe('ok');
    // Once the client reads, the server resumes and every request is answered.
    r.socket.resume();
    await waitFor(() => r.frames.length === total, 'all replies to arrive', 20_000);
    expect(handled).toBe(total);
    expect(new Set(r.frames.map((f) => f.id)).size).toBe(total);
  });
});
