import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { REQUEST_ID_KEY } from '../../lib/context';
import type { Metadata } from '../../lib/transport/transport';
import { gatewayError } from './errors';
import type { ResolvedOptions } from './options';

/**
 * What a call takes from the HTTP headers: metadata from headers with the prefix (`x-phobos-tenant: a` is metadata
 * `tenant: a`), `Authorization` as metadata `authorization`, the request id (`x-request-id`, kept when sane, else
 * made up; echoed in the answer), and the deadline from `<prefix>timeout` (`250ms`, `2s`, or bare milliseconds),
 * capped at `maxTimeout`.
 */

export interface CallHeaders {
  metadata: Metadata;
  requestId: string;
  /** The call's deadline budget in ms. */
  timeout: number;
}

const SANE_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

export function callHeaders(headers: IncomingHttpHeaders, options: ResolvedOptions): CallHeaders {
  const prefix = options.headerPrefix;
  const timeoutHeader = `${prefix}timeout`;
  const metadata: Metadata = {};
  let timeout = options.timeout;
  for (const name in headers) {
    if (!name.startsWith(prefix)) continue;
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
    if (name === timeoutHeader) timeout = parseTimeout(value, options.maxTimeout);
    else if (name.length > prefix.length) metadata[name.slice(prefix.length)] = value;
  }
  const auth = headers.authorization;
  if (auth) metadata.authorization = auth;
  const given = headers[REQUEST_ID_KEY];
  const requestId = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
  metadata[REQUEST_ID_KEY] = requestId;
  return { metadata, requestId, timeout };
}

export function parseTimeout(value: string, max: number): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 'ms'] : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) throw gatewayError(400, `timeout header "${value}" is not a duration such as 250ms, 2s or 1500`);
  return Math.min(ms, max);
}
