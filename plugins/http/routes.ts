import type { IncomingMessage, ServerResponse } from 'node:http';
import { withDeadline } from '../../lib/deadlines';
import type { RpcError } from '../../lib/errors';
import { handleCall } from './call';
import { hasBody } from './intake';
import { serviceStarted, type GatewayCore } from './core';
import { applyCors } from './cors';
import { gatewayError } from './errors';
import { handleJsonRpc } from './jsonrpc';
import { openApiDocument } from './openapi';
import { JSON_TYPE, send } from './reply';

/**
 * The request handler: CORS first (a preflight ends there), then the fixed routes (/health, /ready, /openapi.json,
 * /rpc), then `/{service}/{endpoint}`. Paths are matched by hand, not through URL objects: the handler runs for
 * every request and should cost next to nothing before the call itself.
 */

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** How long /ready waits for the registry to answer. */
const READY_PROBE_MS = 1000;

type Route = { allow: string; run: (core: GatewayCore, req: IncomingMessage, res: ServerResponse) => Promise<void> | void };
/** A Map, not an object literal: a request target such as `__proto__` must not find a route. */
const FIXED = new Map<string, Route>([
  ['/health', { allow: 'GET, HEAD', run: (core, req, res) => json(core, req, res, 200, { status: 'ok' }) }],
  ['/ready', { allow: 'GET, HEAD', run: ready }],
  ['/openapi.json', { allow: 'GET, HEAD', run: openapi }],
  ['/rpc', { allow: 'POST', run: handleJsonRpc }],
]);

export function createHandler(core: GatewayCore): Handler {
  const cors = core.options.cors;
  const route = (req: IncomingMessage, res: ServerResponse): void => {
    if (cors && applyCors(cors, req, res)) return;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Closing: the process is still alive (/health), but new work goes elsewhere.
    if (core.closing && path !== '/health') {
      return core.fail(req, res, gatewayError(503, 'the gateway is shutting down'), { close: true });
    }
    const method = req.method ?? 'GET';
    const fixed = FIXED.get(path);
    if (fixed) {
      const allowed = fixed.allow.split(', ');
      if (method === 'OPTIONS') return options(res, `${fixed.allow}, OPTIONS`);
      if (!allowed.includes(method)) return methodNotAllowed(core, req, res, fixed.allow);
      return guard(core, req, res, fixed.run(core, req, res));
    }
    const slash = path.indexOf('/', 1);
    if (path[0] !== '/' || slash < 0 || path.indexOf('/', slash + 1) >= 0 || slash === path.length - 1) {
      return core.fail(req, res, gatewayError(404, `no route for ${path.slice(0, 200)}: call POST /{service}/{endpoint}`), { close: hasBody(req) });
    }
    if (method === 'OPTIONS') return options(res, 'GET, POST, OPTIONS');
    if (method !== 'POST' && method !== 'GET') return methodNotAllowed(core, req, res, 'POST');
    let service: string;
    let endpoint: string;
    try {
      service = decodeURIComponent(path.slice(1, slash));
      endpoint = decodeURIComponent(path.slice(slash + 1));
    } catch {
      return core.fail(req, res, gatewayError(400, 'the path is not valid percent-encoding'), { close: hasBody(req) });
    }
    guard(core, req, res, handleCall(core, req, res, service, endpoint));
  };
  return (req, res) => {
    core.track(res);
    try {
      route(req, res);
    } catch (err) {
      guard(core, req, res, Promise.reject(err));
    }
  };
}

/** A route that throws unexpectedly answers 500 to its own caller only. */
function guard(core: GatewayCore, req: IncomingMessage, res: ServerResponse, work: Promise<void> | void): void {
  if (!(work instanceof Promise)) return;
  work.catch((err) => {
    core.logger.error({ err, url: req.url }, 'gateway route failed');
    core.fail(req, res, gatewayError(500, 'the gateway failed to answer this request'), { close: true });
  });
}

function methodNotAllowed(core: GatewayCore, req: IncomingMessage, res: ServerResponse, allow: string): void {
  core.fail(req, res, gatewayError(405, `${req.method} is not allowed here (${allow})`), { headers: { allow }, close: hasBody(req) });
}

function options(res: ServerResponse, allow: string): void {
  res.writeHead(204, { allow });
  res.end();
}

function json(core: GatewayCore, req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  res.setHeader('cache-control', 'no-store');
  send(req, res, status, Buffer.from(JSON.stringify(value)), JSON_TYPE, core.options);
}

/** 200 when the service is started, the gateway not closing, and the registry answers within a second; else 503. */
async function ready(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { service } = core;
  if (!serviceStarted(service)) return json(core, req, res, 503, { status: 'starting or stopped' });
  try {
    await withDeadline(service.registry.getService(service.name), READY_PROBE_MS, () => new Error(`no answer within ${READY_PROBE_MS} ms`));
  } catch (err) {
    return json(core, req, res, 503, { status: 'registry unavailable', detail: (err as Error).message });
  }
  json(core, req, res, 200, { status: 'ready' });
}

async function openapi(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let records;
  try {
    records = await core.service.registry.listServices();
  } catch (err) {
    return core.fail(req, res, gatewayError(503, `the registry cannot be reached: ${(err as Error).message}`) as RpcError);
  }
  json(core, req, res, 200, openApiDocument(records, core.options.headerPrefix));
}
