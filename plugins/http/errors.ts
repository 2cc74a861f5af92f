import { RpcError, type ErrorRecord } from '../../lib/errors';

/**
 * How errors become HTTP statuses. RpcError codes are HTTP-like already, so most map one to one; the cases that need
 * a decision:
 * - 408 vs 504. 408 Request Timeout means the HTTP client was too slow to send its request (headers or body); the
 *   gateway answers it itself and closes the connection. A call that runs out of its deadline (the gateway's
 *   `timeout` or the `x-phobos-timeout` header) is 504 Gateway Timeout: the upstream did not answer in time, whether
 *   the client noticed first or the service answered 408 at the deadline. A 408 a handler raises on its own, well
 *   before the deadline, passes through as 408.
 * - A call to a service the registry does not know is 404 (the client alone would say 503 "no nodes"): the gateway
 *   looks the service and endpoint up before calling. 503 stays for known services with no healthy node.
 * - Codes outside 400-599 (or 499, the caller went away) become 500.
 */

/** The id of errors the gateway raises itself. */
export const GATEWAY_ID = 'phobos.gateway';

export function gatewayError(code: number, detail: string, issues?: ErrorRecord['issues']): RpcError {
  return new RpcError(GATEWAY_ID, code, detail, issues);
}

/** Turns whatever a call threw into an RpcError; `deadline` (epoch ms) tells a deadline 408 from a handler's. */
export function callError(err: unknown, deadline: number): RpcError {
  const e = err instanceof RpcError ? err : new RpcError(GATEWAY_ID, 500, (err as Error)?.message ?? String(err));
  if (e.code === 408 && (e.id === 'phobos.client' || Date.now() >= deadline - DEADLINE_SLACK_MS)) {
    return new RpcError(e.id, 504, e.detail);
  }
  return e;
}

/** Timers fire a little early or late; a 408 this close to the deadline is the deadline's. */
const DEADLINE_SLACK_MS = 5;

export function httpStatus(err: RpcError): number {
  const code = err.code;
  if (!Number.isInteger(code) || code < 400 || code > 599 || code === 499) return 500;
  return code;
}

/** The JSON body of every error answer: `{id, code, detail}`, plus `issues` for validation failures. */
export function errorBody(err: RpcError, status: number): Buffer {
  const body: Record<string, unknown> = { id: err.id, code: status, detail: err.detail };
  if (err.issues) body.issues = err.issues;
  return Buffer.from(JSON.stringify(body));
}
