import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PhobosService } from '../../lib/service';
import { GatewayCore } from './core';
import { resolveOptions, type GatewayOptions } from './options';
import { createHandler, type Handler } from './routes';
import { SHUTTING_DOWN } from './sse';

/**
 * The gateway's own node:http server, with the slow-client limits set: the headers must arrive within
 * `headersTimeout` (Node answers 408 and closes the socket), the body within `bodyTimeout` after them (the body reader
 * answers 408 and closes), and Node's `requestTimeout` as the backstop for both. Node checks those timers on an
 * interval (30 s by default): it is shortened so a dribbling client is cut off close to its deadline. A body sent
 * with `Expect: 100-continue` that is announced over the limit is refused with 413 before the client sends it.
 */

export interface Gateway {
  /** `host:port` the gateway listens on ('' for a gateway made with createGateway that does not listen). */
  readonly address: string;
  /** The request handler, for a node:http server of the application's own: `http.createServer(gateway.handler)`. */
  readonly handler: Handler;
  /** Stops taking requests, ends open event streams, waits (up to drainTimeout) for the rest, closes connections. */
  close(): Promise<void>;
}

class HttpGateway implements Gateway {
  readonly core: GatewayCore;
  readonly handler: Handler;
  address = '';
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(service: PhobosService, options: GatewayOptions) {
    this.core = new GatewayCore(service, resolveOptions(options, service.client.timeout));
    this.handler = createHandler(this.core);
  }

  async listen(): Promise<void> {
    const o = this.core.options;
    const server = createServer(
      {
        headersTimeout: o.headersTimeout,
        requestTimeout: o.headersTimeout + o.bodyTimeout,
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.headersTimeout / 4))),
        keepAliveTimeout: 5000,
      },
      this.handler,
    );
    server.on('checkContinue', (req, res) => {
      const length = Number(req.headers['content-length']);
      // Over the limit: no 100 Continue, so the client never sends the body; the handler answers 413.
      if (!(length > o.bodyLimit)) res.writeContinue();
      this.handler(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.core.logger.error({ err }, 'gateway server error'));
    this.server = server;
    const a = server.address() as AddressInfo;
    this.address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const core = this.core;
    core.closing = true;
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections();
    // Event streams may run for as long as their deadline: they are ended now, with an error event saying why.
    for (const stop of [...core.streams]) stop(SHUTTING_DOWN());
    const drained = await core.whenIdle(core.options.drainTimeout);
    if (!drained) core.logger.warn({ inFlight: core.inFlight }, 'gateway drain timeout passed with requests in flight');
    server?.closeAllConnections();
    await closed;
  }
}

/** A gateway that does not listen: mount `handler` in a server of your own; close() drains it. */
export function createGateway(service: PhobosService, options: GatewayOptions = {}): Gateway {
  return new HttpGateway(service, options);
}

/** Starts the gateway on `options.address` (default 127.0.0.1:8080), calling through `service.client`. */
export async function startGateway(service: PhobosService, options: GatewayOptions = {}): Promise<Gateway> {
  const gateway = new HttpGateway(service, options);
  await gateway.listen();
  return gateway;
}
