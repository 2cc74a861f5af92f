import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { gzip } from 'node:zlib';
import type { RpcError } from '../../lib/errors';
import { errorBody, httpStatus } from './errors';

/**
 * Writing answers: status, headers, an optional gzip of bodies worth compressing when the client accepts gzip, and
 * errors as `{id, code, detail}` JSON. Error bodies are always JSON whatever codec the request used: the status
 * already says it failed, and every HTTP client can read JSON.
 */

export interface ReplyOptions {
  gzip: boolean;
  gzipThreshold: number;
}

export const JSON_TYPE = 'application/json';

/** Sends `body` with `status`; compressed when allowed, worth it and accepted. */
export function send(req: IncomingMessage, res: ServerResponse, status: number, body: Uint8Array, contentType: string, options: ReplyOptions): void {
  if (res.headersSent || res.destroyed) return;
  const headers: OutgoingHttpHeaders = { 'content-type': contentType };
  const compressible = options.gzip && body.length >= options.gzipThreshold;
  if (compressible) headers.vary = 'Accept-Encoding';
  if (!compressible || !acceptsGzip(req.headers['accept-encoding'])) {
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    res.end(body);
    return;
  }
  // Compression runs on the thread pool: a large reply does not hold up other requests.
  gzip(body, (err, zipped) => {
    if (res.headersSent || res.destroyed) return;
    if (err) {
      headers['content-length'] = body.length;
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    headers['content-encoding'] = 'gzip';
    headers['content-length'] = zipped.length;
    res.writeHead(status, headers);
    res.end(zipped);
  });
}

export interface ErrorReplyOptions extends ReplyOptions {
  /** Close the connection after answering (the rest of the request body is unread, or the client is too slow). */
  close?: boolean;
  /** Extra headers (Allow for 405). */
  headers?: OutgoingHttpHeaders;
}

export function sendError(req: IncomingMessage, res: ServerResponse, err: RpcError, options: ErrorReplyOptions): void {
  if (res.headersSent || res.destroyed) return;
  const status = httpStatus(err);
  if (options.headers) for (const [k, v] of Object.entries(options.headers)) if (v !== undefined) res.setHeader(k, v);
  if (options.close) {
    res.setHeader('connection', 'close');
    // The rest of the body is never read: once the answer is out, the socket goes.
    res.once('finish', () => req.socket.destroy());
  }
  send(req, res, status, errorBody(err, status), JSON_TYPE, options);
}

/** True when Accept-Encoding allows gzip (`gzip` or `*` with a q above zero). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  for (const part of header.split(',')) {
    const [name, ...params] = part.split(';');
    const coding = name.trim().toLowerCase();
    if (coding !== 'gzip' && coding !== '*' && coding !== 'x-gzip') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}
