import { RpcError } from '../errors';
import { SERVER_ERROR_ID } from '../server/server';
import { TRANSPORT_ERROR_ID } from '../transport/transport';

/**
 * Which failures another attempt may cure. Only failures of the machinery qualify: the connection failed, or a server
 * that is shutting down (or its transport) refused the request with 503 before doing any work. Errors a handler
 * raised, whatever their code, and deadline or cancel errors are final: retrying them would repeat work or outlive the
 * caller.
 */
export function isRetryable(err: unknown): boolean {
  return err instanceof RpcError && err.retryable && (err.id === TRANSPORT_ERROR_ID || err.id === SERVER_ERROR_ID);
}

/** Anything a transport threw that is not already an RpcError is a connection failure. */
export function asRpcError(err: unknown): RpcError {
  return err instanceof RpcError ? err : new RpcError(TRANSPORT_ERROR_ID, 503, (err as Error)?.message ?? String(err));
}

/** Exponential backoff with full jitter, never past the deadline: `base * 2^attempt` at most. */
export function backoff(base: number, attempt: number, deadline: number): Promise<void> {
  const ms = Math.min(Math.random() * base * 2 ** attempt, Math.max(0, deadline - Date.now() - 1));
  return ms < 1 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}
