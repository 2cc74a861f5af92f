import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError } from '../../lib/errors';
import { acceptBody, acceptHeaders, hasBody } from './intake';
import type { GatewayCore } from './core';
import { callError, gatewayError, httpStatus } from './errors';
import { parseJson } from './json';
import { findEndpoint, streamKind } from './lookup';
import type { CallHeaders } from './metadata';
import { mediaType } from './negotiate';
import { JSON_TYPE, send } from './reply';

/**
 * `POST /rpc`: JSON-RPC 2.0 over HTTP. `method` is `service.endpoint` (split at the last dot, so dotted service names
 * work) or `service/endpoint`; `params` is the request: an object as is, a one-element array as its element, absent
 * as no request. Batches run their calls concurrently, at most `batchConcurrency` at once, under one deadline for
 * the whole HTTP request; notifications (no `id`) run but get no entry, and a request made only of notifications is
 * answered 204. Every JSON-RPC answer is HTTP 200 (the errors are in the body); HTTP-level refusals (413, 415, 408)
 * stay HTTP errors because no JSON-RPC body was read.
 *
 * Error codes: -32700 parse error, -32600 invalid request (also an empty or oversized batch), -32601 method not
 * found (unknown service or endpoint, or a streaming endpoint), -32602 invalid params (a 400: validation failed, with
 * the issues), -32603 internal error (a 500), and -32000 for every other RpcError (401, 403, 429, 503, 504...). `data`
 * is always `{id, code, detail}` with the HTTP status as `code` (and `issues` when there are some).
 */

type Id = string | number | null;
interface RpcErrorObject {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}
type Response = { jsonrpc: '2.0'; id: Id } & ({ result: unknown } | { error: RpcErrorObject });

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;
const SERVER_ERROR = -32000;

export async function handleJsonRpc(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { options } = core;
  const headers = acceptHeaders(core, req, res);
  if (!headers) return;
  const type = mediaType(req.headers['content-type']);
  if (type !== JSON_TYPE && type !== '') {
    return core.fail(req, res, gatewayError(415, `JSON-RPC takes Content-Type application/json, not "${type}"`), { close: hasBody(req) });
  }
  const raw = await acceptBody(core, req, res);
  if (!raw) return;
  const deadline = Date.now() + headers.timeout;
  let answer: Response | Response[] | undefined;
  let parsed: unknown;
  try {
    parsed = parseJson(raw.toString('utf8'));
    if (parsed === undefined) throw gatewayError(400, 'empty body');
  } catch (err) {
    answer = failure(null, PARSE_ERROR, 'Parse error', err as RpcError);
  }
  if (!answer) {
    if (!Array.isArray(parsed)) answer = await one(core, parsed, headers, deadline);
    else if (parsed.length === 0) answer = failure(null, INVALID_REQUEST, 'Invalid Request', gatewayError(400, 'an empty batch'));
    else if (parsed.length > options.batchLimit) {
      answer = failure(null, INVALID_REQUEST, 'Invalid Request', gatewayError(400, `a batch of ${parsed.length} is over the limit of ${options.batchLimit}`));
    } else {
      const all = await mapConcurrently(parsed, options.batchConcurrency, (entry) => one(core, entry, headers, deadline));
      const kept = all.filter((r): r is Response => r !== undefined);
      answer = kept.length ? kept : undefined;
    }
  }
  if (answer === undefined) {
    res.writeHead(204);
    res.end();
    return;
  }
  send(req, res, 200, Buffer.from(JSON.stringify(answer)), JSON_TYPE, options);
}

/** Runs one request object; undefined for a notification. */
async function one(core: GatewayCore, entry: unknown, headers: CallHeaders, deadline: number): Promise<Response | undefined> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return failure(null, INVALID_REQUEST, 'Invalid Request', gatewayError(400, 'a request must be an object'));
  }
  const r = entry as Record<string, unknown>;
  const hasId = Object.prototype.hasOwnProperty.call(r, 'id');
  const idOk = !hasId || r.id === null || typeof r.id === 'string' || typeof r.id === 'number';
  const id: Id = hasId && idOk ? (r.id as Id) : null;
  const invalid = (detail: string) => failure(id, INVALID_REQUEST, 'Invalid Request', gatewayError(400, detail));
  if (r.jsonrpc !== '2.0') return invalid('"jsonrpc" must be "2.0"');
  if (typeof r.method !== 'string' || r.method === '') return invalid('"method" must be a non-empty string');
  if (!idOk) return invalid('"id" must be a string, a number or null');
  if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null)) return invalid('"params" must be an object or an array');

  const answer = await run(core, r.method, r.params, headers, deadline);
  if (!hasId) return undefined;
  return 'error' in answer ? { jsonrpc: '2.0', error: answer.error, id } : { jsonrpc: '2.0', result: answer.result, id };
}

async function run(core: GatewayCore, method: string, params: unknown, headers: CallHeaders, deadline: number): Promise<{ result: unknown } | { error: RpcErrorObject }> {
  const target = splitMethod(method);
  if (!target) return errorOf(METHOD_NOT_FOUND, 'Method not found', gatewayError(404, `"${method}" is not service.endpoint`));
  let request: unknown;
  if (Array.isArray(params)) {
    if (params.length > 1) return errorOf(INVALID_PARAMS, 'Invalid params', gatewayError(400, 'by-position params must hold one request'));
    request = params[0];
  } else request = params;
  const [service, endpoint] = target;
  try {
    const record = await findEndpoint(core.service.cache, service, endpoint);
    if (streamKind(record)) throw gatewayError(404, `${service}.${endpoint} is a streaming endpoint; JSON-RPC carries unary calls only`);
    const timeout = deadline - Date.now();
    if (timeout <= 0) throw gatewayError(504, `${service}.${endpoint}: the request's deadline passed before it could be sent`);
    const result = await core.service.client.call(service, endpoint, request, { metadata: { ...headers.metadata }, timeout });
    return { result: result === undefined ? null : result };
  } catch (err) {
    const e = callError(err, deadline);
    const status = httpStatus(e);
    if (status === 404) return errorOf(METHOD_NOT_FOUND, 'Method not found', e);
    if (status === 400) return errorOf(INVALID_PARAMS, 'Invalid params', e);
    if (status === 500) return errorOf(INTERNAL_ERROR, 'Internal error', e);
    return errorOf(SERVER_ERROR, e.detail, e);
  }
}

function splitMethod(method: string): [string, string] | undefined {
  const slash = method.indexOf('/');
  const at = slash >= 0 ? slash : method.lastIndexOf('.');
  if (at <= 0 || at === method.length - 1) return undefined;
  return [method.slice(0, at), method.slice(at + 1)];
}

function errorOf(code: number, message: string, e: RpcError): { error: RpcErrorObject } {
  const status = httpStatus(e);
  const data: Record<string, unknown> = { id: e.id, code: status, detail: e.detail };
  if (e.issues) data.issues = e.issues;
  return { error: { code, message, data } };
}

function failure(id: Id, code: number, message: string, e: RpcError): Response {
  return { jsonrpc: '2.0', error: errorOf(code, message, e).error, id };
}

/** `fn` over `items` with at most `limit` running at once; results in input order. */
async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
