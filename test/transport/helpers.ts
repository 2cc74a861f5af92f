import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { RpcError } from '../../lib/errors';
import type { Logger } from '../../lib/observe/logger';
import type { Frame } from '../../lib/transport/tcp/frame';
export type { Frame };
import { encodeFrame } from '../../lib/transport/tcp/frame';
import { FrameReader } from '../../lib/transport/tcp/reader';
import { TcpTransport } from '../../lib/transport/tcp';
import type { TcpClientSocket, TcpListener } from '../../lib/transport/tcp';
import { type Message, MessageKind, type RequestHandler } from '../../lib/transport/transport';

export interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  remote?: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are kept in memory, so tests can assert what was reported. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

/** Polls `cond` until it holds or the deadline passes; for states that raise no event. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function request(over: Partial<Message> = {}): Message {
  return {
    kind: MessageKind.request,
    id: 0,
    codec: 2,
    service: 'greeter',
    endpoint: 'hello',
    timeout: 0,
    metadata: undefined,
    error: false,
    body: Buffer.from('hi'),
    ...over,
  };
}

/** Encodes one frame with the production encoder (limits wide open, no gzip unless asked). */
export function frameBytes(m: Message, id: number, compressThreshold = Infinity): Buffer {
  const out: Uint8Array[] = [];
  encodeFrame(m, id, { maxFrameSize: 0xffffffff, compressThreshold }, out);
  return Buffer.concat(out);
}

/** A bare `net` client that speaks bytes; it decodes whatever frames come back. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(0xffffffff);

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      for (let f = this.reader.next(); f; f = this.reader.next()) this.frames.push(f);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(address: string): Promise<RawClient> {
    const [host, port] = address.split(':');
    const socket = connect({ host, port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Builds a 26-byte header by hand, for frames the encoder would never produce. */
export function header(fields: {
  magic?: number;
  version?: number;
  kind?: number;
  flags?: number;
  codec?: number;
  id?: number;
  timeout?: number;
  sLen?: number;
  eLen?: number;
  mLen?: number;
  bLen?: number;
}): Buffer {
  const b = Buffer.alloc(26);
  b.writeUInt16BE(fields.magic ?? 0x5048, 0);
  b[2] = fields.version ?? 1;
  b[3] = fields.kind ?? 0;
  b[4] = fields.flags ?? 0;
  b[5] = fields.codec ?? 2;
  b.writeUInt32BE(fields.id ?? 1, 6);
  b.writeUInt32BE(fields.timeout ?? 0, 10);
  b.writeUInt16BE(fields.sLen ?? 0, 14);
  b.writeUInt16BE(fields.eLen ?? 0, 16);
  b.writeUInt32BE(fields.mLen ?? 0, 18);
  b.writeUInt32BE(fields.bLen ?? 0, 22);
  return b;
}

/** A plain net server (closed by `closeServers`); `onSocket` sees each accepted socket. Resolves to its address. */
export async function rawServer(onSocket: (s: Socket) => void, track: Server[]): Promise<string> {
  const server = createServer(onSocket);
  track.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw TCP server that decodes every frame it receives into `frames`; returns its address. */
export async function frameSink(frames: Frame[], track: Server[]): Promise<string> {
  return rawServer((s) => {
    const reader = new FrameReader(1 << 20);
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.next(); f; f = reader.next()) frames.push(f);
    });
  }, track);
}

/**
 * Per-test tcp state shared by the transport test files: the listener and client under test and any raw servers,
 * all closed after each test (the fixture registers its own afterEach).
 */
export function tcpFixture() {
  const servers: Server[] = [];
  const fx = {
    listener: undefined as TcpListener | undefined,
    client: undefined as TcpClientSocket | undefined,
    servers,
    rawServer: (onSocket: (s: Socket) => void) => rawServer(onSocket, servers),
    /** Listens with `handler` and dials it; the client is also kept as `fx.client`. */
    async serve(handler: RequestHandler, t = new TcpTransport()): Promise<TcpClientSocket> {
      const listener = await t.listen('127.0.0.1:0', handler);
      fx.listener = listener;
      const client = await t.dial(listener.address);
      fx.client = client;
      return client;
    },
  };
  afterEach(async () => {
    fx.client?.close();
    fx.client = undefined;
    await fx.listener?.close();
    fx.listener = undefined;
    await closeServers(servers);
    jest.restoreAllMocks();
  });
  return fx;
}

export async function closeServers(track: Server[]): Promise<void> {
  for (const s of track.splice(0)) await new Promise((r) => s.close(r));
}

/** The RpcError `p` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RpcError);
    return err as RpcError;
  }
  throw new Error('expected a rejection');
}
