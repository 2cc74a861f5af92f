import { RpcError } from '../../lib/errors';
import { STREAM_WINDOW, type StreamChannel } from '../../lib/transport/stream-channel';
import { TcpTransport } from '../../lib/transport/tcp';
import type { TcpClientSocket, TcpListener } from '../../lib/transport/tcp';
import { type Message, MessageKind, type RequestHandler, responseTo } from '../../lib/transport/transport';
import { RawClient, captureLogger, closeServers, frameBytes, rawServer, request, waitFor } from './helpers';
import type { Server, Socket } from 'node:net';
import { FrameReader } from '../../lib/transport/tcp/reader';

/**
 * Stream frames from a peer that breaks the rules, on real sockets. As documented in docs/protocol.md: frames for a
 * stream that is not open are dropped and the connection goes on; data past the granted window and credit past
 * 2^32 - 1 close that one connection, with a logged reason, while a well-behaved client keeps being served.
 */

/** 'in' opens a request stream (granting the first window), 'out' a reply stream; anything else is echoed. */
const channels: StreamChannel[] = [];
const handler: RequestHandler = (req, reply, peer) => {
  if (req.endpoint === 'in' || req.endpoint === 'out') {
    const ch = peer.openStream!(req.id);
    if (req.endpoint === 'in') ch.grant(STREAM_WINDOW);
    else ch.open(req.codec);
    channels.push(ch);
    return;
  }
  reply(responseTo(req, req.body, false));
};

let listener: TcpListener;
let good: TcpClientSocket;
let log: ReturnType<typeof captureLogger>;
const raws: RawClient[] = [];
const servers: Server[] = [];

beforeEach(async () => {
  log = captureLogger();
  const t = new TcpTransport({ logger: log.logger });
  listener = await t.listen('127.0.0.1:0', handler);
  good = await t.dial(listener.address);
});

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  channels.length = 0;
  good?.close();
  await listener?.close();
  await closeServers(servers);
});

async function raw(): Promise<RawClient> {
  const r = await RawClient.connect(listener.address);
  raws.push(r);
  return r;
}

function streamFrame(kind: MessageKind, id: number, count = 0, body: Buffer = Buffer.alloc(0)): Buffer {
  return frameBytes(request({ kind, service: '', endpoint: '', codec: kind === MessageKind.data ? 2 : 0, timeout: count, body }), id);
}

async function stillServing(): Promise<void> {
  const res = await good.request(request({ body: Buffer.from('still here') }), { timeout: 2_000 });
  expect(Buffer.from(res.body).toString()).toBe('still here');
}

describe('tcp streams against bad frames', () => {
  it('drops data, end and credit frames for streams that are not open, and keeps the connection', async () => {
    const r = await raw();
    r.write(Buffer.concat([
      streamFrame(MessageKind.data, 99, 0, Buffer.from([0xc0])),
      streamFrame(MessageKind.end, 99),
      streamFrame(MessageKind.credit, 99, 5),
      frameBytes(request({ body: Buffer.from('after') }), 1),
    ]));
    await waitFor(() => r.frames.length === 1, 'the echo after the stray frames');
    expect(r.frames[0]).toMatchObject({ kind: MessageKind.response, id: 1 });
    expect(Buffer.from(r.frames[0].body).toString()).toBe('after');
    expect(r.socket.destroyed).toBe(false);
    await stillServing();
  });

  it('closes a connection that sends data past the window the server granted', async () => {
    const r = await raw();
    r.write(frameBytes(request({ endpoint: 'in', stream: true, body: Buffer.alloc(0) }), 1));
    await waitFor(() => r.frames.some((f) => f.kind === MessageKind.credit), 'the server to accept the stream');
    expect(r.frames[0]).toMatchObject({ kind: MessageKind.credit, id: 1, timeout: STREAM_WINDOW });
    const data = Array.from({ length: STREAM_WINDOW + 1 }, () => streamFrame(MessageKind.data, 1, 0, Buffer.from([0x01])));
    r.write(Buffer.concat(data));
    await r.closed;
    await waitFor(() => log.warnings().some((l) => /past the granted window/.test(String(l.reason))), 'the warning');
    await stillServing();
  });

  it('closes a connection that sends data on a call whose request is not a stream', async () => {
    const r = await raw();
    r.write(frameBytes(request({ endpoint: 'out' }), 1));
    await waitFor(() => r.frames.some((f) => f.kind === MessageKind.response && f.stream), 'the reply stream to open');
    r.write(streamFrame(MessageKind.data, 1, 0, Buffer.from([0x01])));
    await r.closed;
    await waitFor(() => log.warnings().some((l) => /past the granted window/.test(String(l.reason))), 'the warning');
    await stillServing();
  });

  it('closes a connection whose credit would pass 2^32 - 1', async () => {
    const r = await raw();
    r.write(frameBytes(request({ endpoint: 'out' }), 1));
    await waitFor(() => channels.length === 1, 'the reply stream to open');
    r.write(streamFrame(MessageKind.credit, 1, 0xffffffff));
    await r.closed;
    await waitFor(() => log.warnings().some((l) => /credit overflow/.test(String(l.reason))), 'the warning');
    // The server's end of the stream failed with the connection.
    await expect(channels[0].next()).rejects.toMatchObject({ code: 503 });
    await stillServing();
  });
});

describe('tcp client against a server that breaks the stream rules', () => {
  it('closes the connection when a reply stream overruns its window, failing the stream with 503', async () => {
    let got: Socket | undefined;
    const address = await rawServer((s) => {
      got = s;
      const reader = new FrameReader(1 << 20);
      s.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let f = reader.next(); f; f = reader.next()) {
          if (f.kind !== MessageKind.request) continue;
          // Opens a reply stream, then sends one more data frame than the initial window allows.
          const open: Message = { ...responseTo(f, Buffer.alloc(0), false), stream: true };
          const data = Array.from({ length: STREAM_WINDOW + 1 }, () => streamFrame(MessageKind.data, f.id, 0, Buffer.from([0x01])));
          s.write(Buffer.concat([frameBytes(open, f.id), ...data]));
        }
      });
    }, servers);
    const client = await new TcpTransport({ logger: log.logger }).dial(address);
    const res = await client.request(request(), { timeout: 2_000 });
    expect(res.channel).toBeDefined();
    const err = await drainChannel(res.channel!).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe(503);
    await waitFor(() => client.closed, 'the client socket to close');
    expect(got).toBeDefined();
  });
});

/** Reads a channel to its end; rejects with its failure. */
async function drainChannel(ch: StreamChannel): Promise<number> {
  let n = 0;
  for (;;) {
    const m = await ch.next();
    if (m.kind !== MessageKind.data) return n;
    n++;
  }
}
