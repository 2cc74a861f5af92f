import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { PhobosService, ServiceOptions } from '../../../lib';
import { startGateway, type Gateway, type GatewayOptions } from '../../../plugins/http';
import { GatewayFixture } from '../../fixtures/gateway-service';
import { newNamespace, stopAll, testService } from '../../helpers/services';

/** Gateway tests: a real fixture service on tcp, a gateway on 127.0.0.1:0, and a node:http client. */

const gateways: Gateway[] = [];

export interface Started {
  fixture: GatewayFixture;
  server: PhobosService;
  /** The service whose client the gateway calls through (the server itself when embedded). */
  front: PhobosService;
  gateway: Gateway;
  call: (req: HttpRequest) => Promise<HttpReply>;
}

export interface StartOptions {
  /** Run the gateway in the serving process (in-process fast path) instead of a separate caller service. */
  embedded?: boolean;
  gateway?: GatewayOptions;
  /** Options for the caller service (its codec, call wrappers...). */
  front?: Partial<ServiceOptions>;
}

export async function startFixture(options: StartOptions = {}): Promise<Started> {
  const namespace = newNamespace();
  const fixture = new GatewayFixture();
  const server = testService({ name: 'gw', namespace });
  server.handle(fixture);
  await server.start();
  let front = server;
  if (!options.embedded) {
    front = testService({ name: 'gateway', namespace, ...options.front });
    await front.start();
  }
  const gateway = await startGateway(front, { address: '127.0.0.1:0', ...options.gateway });
  gateways.push(gateway);
  return { fixture, server, front, gateway, call: (req) => call(gateway.address, req) };
}

export async function closeAll(): Promise<void> {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  await stopAll();
}

export interface HttpRequest {
  method?: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  /** An object is sent as JSON (Content-Type application/json unless given). */
  body?: string | Buffer | object;
  /** Send the body in these many chunks (chunked transfer encoding, no Content-Length). */
  chunks?: number;
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: any;
}

/** One HTTP request over a fresh connection; fails after 10 s. */
export function call(address: string, r: HttpRequest): Promise<HttpReply> {
  const [host, port] = splitAddress(address);
  const headers: OutgoingHttpHeaders = { ...r.headers };
  let body: Buffer | undefined;
  if (r.body !== undefined) {
    if (Buffer.isBuffer(r.body)) body = r.body;
    else if (typeof r.body === 'string') body = Buffer.from(r.body);
    else {
      body = Buffer.from(JSON.stringify(r.body));
      headers['content-type'] ??= 'application/json';
    }
    if (!r.chunks) headers['content-length'] ??= body.length;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, method: r.method ?? 'POST', path: r.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        const text = all.toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${r.path} within 10 s`)));
    req.on('error', reject);
    if (body && r.chunks) {
      const size = Math.ceil(body.length / r.chunks);
      for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
      req.end();
    } else req.end(body);
  });
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** A raw TCP connection to the gateway, for requests no well-behaved client would send. */
export class RawClient {
  readonly socket: Socket;
  received = '';
  readonly closed: Promise<void>;

  constructor(address: string) {
    const [host, port] = splitAddress(address);
    this.socket = connect(port, host);
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.received += d));
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }

  write(text: string | Buffer): boolean {
    return this.socket.write(text);
  }

  /** Resolves when the socket closed, rejects after `ms`. */
  async waitClosed(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms; got: ${this.received}`)), ms)));
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
