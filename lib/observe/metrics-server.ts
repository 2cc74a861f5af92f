import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../flags';
import type { Logger } from './logger';

/**
 * `/metrics` over node:http for Prometheus to scrape, on --metrics_address. Given only a port (`9100` or `:9100`) it
 * binds 127.0.0.1: metrics say a lot about a service and should not reach the network unless asked for. Only
 * GET/HEAD /metrics is served; stop() closes idle keep-alive connections too, so a scraper cannot hold a service open.
 */

export interface MetricsEndpoint {
  /** `host:port` actually bound (the port is real even when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

/** `9100`, `:9100`, `0.0.0.0:9100`, `[::1]:9100`, `localhost:0` -> host and port; anything else is a ConfigError. */
export function metricsListenAddress(raw: string): { host: string; port: number } {
  const value = raw.trim();
  const m = /^(?:(\[[^\]]+\]|[^:[\]]*):)?(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`--metrics_address: "${raw}" is not a port or host:port (e.g. 9100, :9100, 0.0.0.0:9100)`);
  }
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

export async function serveMetrics(registry: Registry, address: string, logger: Logger): Promise<MetricsEndpoint> {
  const { host, port } = metricsListenAddress(address);
  const server = createServer((req, res) => void answer(registry, req, res, logger));
  // A scraper's keep-alive connection must not outlive stop() by the default 5 s.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new Error(`cannot serve metrics on ${host}:${port}: ${err.message}`);
  });
  const bound = server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  return {
    address: shown,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(registry: Registry, req: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') return plain(res, 404, 'not found: metrics are at /metrics\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return plain(res, 405, 'method not allowed\n');
  }
  let text: string;
  try {
    text = await registry.metrics();
  } catch (err) {
    logger.warn({ err }, 'collecting metrics failed');
    return plain(res, 500, 'collecting metrics failed\n');
  }
  res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
