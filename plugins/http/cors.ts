import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedCors } from './options';

/**
 * CORS, off unless asked for (no Access-Control-* header at all then). On: a request from an allowed origin gets
 * Access-Control-Allow-Origin (`*` for any origin without credentials, else the origin itself with `Vary: Origin`)
 * and sees the request id header; a preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin is
 * answered 204 with the methods and the headers it asked for (metadata headers carry a prefix CORS cannot wildcard,
 * so the requested list is echoed); from another origin, 403 with no CORS headers, so the browser refuses it.
 */

const METHODS = 'GET, POST, OPTIONS';
const MAX_AGE = '600';

/** Adds CORS headers to `res`; returns true when it answered a preflight itself. */
export function applyCors(cors: ResolvedCors, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  if (!cors.any) res.setHeader('vary', 'Origin');
  const allowed = origin !== undefined && (cors.any || cors.origins.has(origin));
  if (!allowed) {
    if (!preflight || origin === undefined) return false;
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end(`origin ${origin} is not allowed`);
    return true;
  }
  res.setHeader('access-control-allow-origin', cors.any && !cors.credentials ? '*' : origin);
  if (cors.credentials) res.setHeader('access-control-allow-credentials', 'true');
  if (!preflight) {
    res.setHeader('access-control-expose-headers', 'x-request-id');
    return false;
  }
  res.setHeader('access-control-allow-methods', METHODS);
  const asked = req.headers['access-control-request-headers'];
  if (asked) res.setHeader('access-control-allow-headers', asked);
  res.setHeader('access-control-max-age', MAX_AGE);
  res.writeHead(204);
  res.end();
  return true;
}
