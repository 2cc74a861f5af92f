import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RpcError } from '../../lib/errors';
import { checkAnnounced, readBody, type BodyError } from './body';
import type { GatewayCore } from './core';
import { callHeaders, type CallHeaders } from './metadata';

/**
 * The first steps every call route takes (`POST /{service}/{endpoint}` and `POST /rpc`): the headers, then the body
 * within its limits. Each answers the refusal itself and returns undefined, so a route only goes on when it got what
 * it needs.
 */

/** Metadata, request id and timeout from the headers; the request id is echoed at once. */
export function acceptHeaders(core: GatewayCore, req: IncomingMessage, res: ServerResponse): CallHeaders | undefined {
  let headers: CallHeaders;
  try {
    headers = callHeaders(req.headers, core.options);
  } catch (err) {
    core.fail(req, res, err as RpcError, { close: hasBody(req) });
    return undefined;
  }
  res.setHeader('x-request-id', headers.requestId);
  return headers;
}

/** The (inflated) body: refused from what the headers announce before a byte is read, else as it arrives. */
export async function acceptBody(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
  const { bodyLimit, bodyTimeout } = core.options;
  const refused = checkAnnounced(req, bodyLimit);
  if (refused) {
    core.fail(req, res, refused, { close: true });
    return undefined;
  }
  try {
    return await readBody(req, { limit: bodyLimit, timeout: bodyTimeout });
  } catch (err) {
    core.fail(req, res, err as BodyError, { close: (err as BodyError).closeConnection });
    return undefined;
  }
}

/** Whether a body follows the headers: a refusal must then close the connection instead of reading on. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}
